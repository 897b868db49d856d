"""An evaluation whose set holds a competition that is neither prepared nor preparable on the preparer's
host is refused at create time, naming it and why, instead of ending in failed runs later. The check is
the preparer's (`GetCompetition`'s `preparation`), over `mleredux.preparation.checks.preparability`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.competitions import list_competitions
from mleredux.embedded import EmbeddedStack
from mleredux.errors import UnknownCompetitionError
from mleredux.preparation.checks import preparability
from mleredux.preparation.kaggle import find_credentials
from mleredux.preparation.prepare import prepared_dir
from mleredux.v1 import competitions_pb2, preparer_pb2, preparer_pb2_grpc

#: A supported competition that is downloaded from Kaggle (not built in).
KAGGLE_ONE = "the-icml-2013-whale-challenge-right-whale-redux"


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))


def test_preparability_says_what_a_cheap_check_can_tell(
    tmp_path: Path, no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    assert preparability("demo-digits", data).state == "offline"
    unsupported = next(c.id for c in list_competitions() if not c.supported)
    found = preparability(unsupported, data)
    assert found.state == "unsupported" and not found.usable and "not supported yet" in found.message
    found = preparability(KAGGLE_ONE, data)
    assert found.state == "unavailable" and not found.usable
    assert "no Kaggle credentials" in found.message and f"mleredux prepare -c {KAGGLE_ONE} --raw PATH" in found.message
    archive = data / KAGGLE_ONE / "download" / f"{KAGGLE_ONE}.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"PK")
    assert preparability(KAGGLE_ONE, data).state == "downloaded"
    archive.unlink()
    for part in ("public", "private"):
        (prepared_dir(KAGGLE_ONE, data) / part).mkdir(parents=True)
    assert preparability(KAGGLE_ONE, data).state == "prepared"
    assert preparability(KAGGLE_ONE, tmp_path / "elsewhere").state == "unavailable"
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    found = preparability(KAGGLE_ONE, tmp_path / "elsewhere")
    assert found.state == "downloadable" and found.usable
    with pytest.raises(UnknownCompetitionError):
        preparability("no-such-competition", data)


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        yield gateway


@pytest.fixture
def unpreparable(data_dir: Path) -> str:
    """KAGGLE_ONE, if the stack's preparer can neither find it prepared nor download it."""
    if find_credentials() is not None:
        pytest.skip("this machine has Kaggle credentials: every supported competition is preparable here")
    if preparability(KAGGLE_ONE, data_dir).usable:
        pytest.skip(f"{KAGGLE_ONE} is prepared in the test stack's data dir")
    return KAGGLE_ONE


async def test_the_preparer_reports_each_competitions_preparation(stack: EmbeddedStack, unpreparable: str) -> None:
    States = competitions_pb2.PreparationState
    async with grpc.aio.insecure_channel(stack.services["preparer"].address) as channel:
        preparer = preparer_pb2_grpc.PreparerServiceStub(channel)
        demo = await preparer.GetCompetition(
            preparer_pb2.PreparerServiceGetCompetitionRequest(competition_id="demo-digits")
        )
        kaggle = await preparer.GetCompetition(
            preparer_pb2.PreparerServiceGetCompetitionRequest(competition_id=unpreparable)
        )
    assert demo.preparation.state in (States.PREPARATION_STATE_PREPARED, States.PREPARATION_STATE_OFFLINE)
    assert kaggle.preparation.state == States.PREPARATION_STATE_UNAVAILABLE
    assert "no Kaggle credentials" in kaggle.preparation.message


async def test_an_unpreparable_competition_is_refused_at_create_time(client: GatewayClient, unpreparable: str) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation("dummy", competition_ids=["demo-digits", unpreparable], seeds=1)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    text = str(caught.value)
    assert f"1 competition(s) of the set are neither prepared nor preparable here ({unpreparable})" in text
    assert "no Kaggle credentials" in text and "demo-digits" not in text.split("(", 1)[1].split(")")[0]
    # Nothing was created.
    assert not any(
        e.competition_ids == ["demo-digits", unpreparable] for e in (await client.list_evaluations()).evaluations
    )


async def test_an_unknown_competition_is_refused_at_create_time(client: GatewayClient) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation("dummy", competition_ids=["demo-digits", "demo-digitz"], seeds=1)
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "unknown competition 'demo-digitz'. Did you mean 'demo-digits'?" in str(caught.value)


async def test_prepared_and_offline_competitions_pass(client: GatewayClient) -> None:
    created = await client.create_evaluation("dummy", split="demo", seeds=1, concurrency=3)
    async for _ in client.watch_evaluation(created.evaluation_id):
        pass
    evaluation = await client.get_evaluation(created.evaluation_id)
    assert evaluation.progress.succeeded == 3, evaluation.message
