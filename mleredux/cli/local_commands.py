"""Commands that run in this process, without a gateway: `competitions`, `prepare`, `grade`,
`grade-sample`, `images`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mleredux.cli.exit_codes import EXIT_OK, EXIT_RUN_FAILED
from mleredux.config import Home
from mleredux.errors import MleReduxError


def cmd_competitions(args: argparse.Namespace, home: Home) -> int:
    from mleredux.competitions import list_competitions

    for info in sorted(list_competitions(), key=lambda i: i.id):
        direction = "lower" if info.is_lower_better else "higher"
        status = "supported" if info.supported else "listed only"
        if not info.sealed:
            status += ", NOT SEALED (answers in data agents can read)"
        print(f"{info.id:<50} {info.category:<8} {info.metric} ({direction} is better), {status}")
    return EXIT_OK


def _prepare_targets(args: argparse.Namespace) -> list[str]:
    from mleredux.competitions import get_competition, list_competitions

    if args.competition:
        return [args.competition]
    if args.list:
        if not args.list.is_file():
            raise MleReduxError(f"competition list not found: {args.list}")
        ids = [line.strip() for line in args.list.read_text().splitlines() if line.strip() and not line.startswith("#")]
        for competition_id in ids:
            get_competition(competition_id)  # an unknown id fails before any work
        return ids
    infos = [i for i in list_competitions() if i.supported and not i.offline]
    if args.lite:
        from mleredux.competitions.catalog import LITE_COMPETITIONS

        return sorted(i.id for i in infos if i.id in LITE_COMPETITIONS)
    return sorted(i.id for i in list_competitions() if i.supported)


def _raw_for(args: argparse.Namespace, competition_id: str, many: bool) -> Path | None:
    if args.raw is None:
        return None
    if not many:
        return Path(args.raw)
    for candidate in (args.raw / f"{competition_id}.zip", args.raw / competition_id):
        if candidate.exists():
            return Path(candidate)
    return None


def cmd_prepare(args: argparse.Namespace, home: Home) -> int:
    from mleredux.preparation.prepare import prepare_competition
    from mleredux.progress import ProgressBar

    data_dir = args.data_dir or home.data_dir
    targets = _prepare_targets(args)
    if args.check:
        from mleredux.preparation.checks import check_preparation

        ok = True
        for competition_id in targets:
            check = check_preparation(competition_id, data_dir, raw=_raw_for(args, competition_id, len(targets) > 1))
            ok = ok and check.ready
            print(check.render(), flush=True)
        return EXIT_OK if ok else EXIT_RUN_FAILED
    failures = []
    for competition_id in targets:
        bar = ProgressBar(competition_id, sys.stderr)
        try:
            dataset = prepare_competition(
                competition_id,
                data_dir,
                raw=_raw_for(args, competition_id, len(targets) > 1),
                progress=bar.update,
                overwrite=args.overwrite,
                overwrite_checksums=args.overwrite_checksums,
                keep_raw=args.keep_raw,
            )
        except MleReduxError as exc:
            bar.close()
            print(f"{competition_id}: {exc}", file=sys.stderr, flush=True)
            failures.append(competition_id)
            continue
        bar.close()
        verb = "verified (already prepared)" if dataset.reused else "prepared"
        print(f"{competition_id}: {verb} in {dataset.public_dir.parent} (content hash {dataset.content_hash[:12]})")
    if failures:
        print(f"{len(failures)} of {len(targets)} failed: {', '.join(failures)}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK


def cmd_grade(args: argparse.Namespace, home: Home) -> int:
    from mleredux.grading.batch import grade_jsonl, write_batch_report

    summary, errors = grade_jsonl(args.submission, args.data_dir or home.data_dir)
    for error in errors:
        print(f"not graded: {error}", file=sys.stderr)
    target = write_batch_report(summary, args.output_dir)
    brief = {k: v for k, v in summary.items() if k != "competition_reports"}
    print(json.dumps(brief, indent=2))
    print(f"report written to {target}")
    return EXIT_RUN_FAILED if errors else EXIT_OK


def cmd_grade_sample(args: argparse.Namespace, home: Home) -> int:
    from mleredux.grading.submission import grade_submission

    if not args.submission.is_file():
        raise MleReduxError(f"submission not found: {args.submission}")
    report = grade_submission(args.submission, args.competition_id, args.data_dir or home.data_dir)
    print(json.dumps(report.to_dict(), indent=2))
    return EXIT_OK if report.valid_submission else EXIT_RUN_FAILED


def cmd_images(args: argparse.Namespace, home: Home) -> int:
    from mleredux import images

    if args.images_command == "list":
        for name in images.list_images():
            print(f"{name:<12} {images.image_tag(name)}")
        return EXIT_OK
    names = args.names or images.list_images()
    for name in names:
        result = images.build_image(name, force=args.force, on_output=lambda line: print(f"  {line}", flush=True))
        verb = f"built in {result.seconds:.1f}s" if result.built else "up to date"
        print(f"{name}: {result.tag} {verb}", flush=True)
    return EXIT_OK
