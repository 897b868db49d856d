/*
 * mleredux-validate: the in-container validation client.
 *
 *   mleredux-validate FILE [SOCKET]
 *
 * Sends FILE to the grader's unix socket (SOCKET, else $MLEREDUX_GRADER_SOCKET, else
 * /run/mleredux/grader.sock) as `POST /validate` and prints the JSON answer
 * {"valid": bool, "message": ...} to stdout.
 *
 * Exit codes: 0 valid, 1 invalid, 2 any error (message on stderr).
 * Build: gcc -static -O2 -s -o mleredux-validate mleredux-validate.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/mleredux/grader.sock"
#define MAX_FILE_SIZE (512LL * 1024 * 1024)
#define MAX_RESPONSE (16LL * 1024 * 1024)
#define CHUNK 65536

static const char *prog = "mleredux-validate";

static int fail(const char *fmt, const char *arg, int err) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    if (err) fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
    return 2;
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Case-insensitive search for a header name at the start of a line within the head. */
static const char *find_header(const char *head, size_t head_len, const char *name) {
    size_t nlen = strlen(name);
    const char *p = head;
    const char *end = head + head_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            return p + nlen + 1;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Decode a chunked body in place; returns new length or -1. */
static long long dechunk(char *body, long long len) {
    char *src = body, *dst = body, *end = body + len;
    for (;;) {
        char *eol = memchr(src, '\n', (size_t)(end - src));
        if (!eol) return -1;
        char *stop;
        long long size = strtoll(src, &stop, 16);
        if (stop == src || size < 0) return -1;
        src = eol + 1;
        if (size == 0) break;
        if (size > end - src) return -1;
        memmove(dst, src, (size_t)size);
        dst += size;
        src += size;
        if (src < end && *src == '\r') src++;
        if (src < end && *src == '\n') src++;
    }
    return dst - body;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: %s FILE [SOCKET]\n", prog);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *file = argv[1];
    const char *sock_path = argc == 3 ? argv[2] : getenv("MLEREDUX_GRADER_SOCKET");
    if (!sock_path || !*sock_path) sock_path = DEFAULT_SOCKET;

    int fd = open(file, O_RDONLY);
    if (fd < 0) return fail("cannot open submission %s", file, errno);
    struct stat st;
    if (fstat(fd, &st) < 0) return fail("cannot stat %s", file, errno);
    if (!S_ISREG(st.st_mode)) return fail("%s is not a regular file", file, 0);
    if (st.st_size > MAX_FILE_SIZE) return fail("%s is larger than 512 MiB", file, 0);

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(sock_path) >= sizeof addr.sun_path) return fail("socket path too long: %s", sock_path, 0);
    strcpy(addr.sun_path, sock_path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return fail("socket() failed%s", "", errno);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0)
        return fail("cannot connect to the grader at %s", sock_path, errno);

    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST /validate HTTP/1.1\r\n"
                      "Host: grader\r\n"
                      "Content-Type: text/csv\r\n"
                      "Content-Length: %lld\r\n"
                      "Connection: close\r\n"
                      "\r\n",
                      (long long)st.st_size);
    if (write_all(s, head, (size_t)hl) < 0) return fail("cannot send to the grader at %s", sock_path, errno);

    char *buf = malloc(CHUNK);
    if (!buf) return fail("out of memory%s", "", 0);
    long long sent = 0;
    int send_failed = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("cannot read %s", file, errno);
        }
        if (n == 0) break;
        if (sent + n > st.st_size) return fail("%s grew while being sent", file, 0);
        if (write_all(s, buf, (size_t)n) < 0) {
            /* The grader may have answered early (e.g. 413) and closed: read what it said. */
            if (errno == EPIPE || errno == ECONNRESET) {
                send_failed = errno;
                break;
            }
            return fail("cannot send to the grader at %s", sock_path, errno);
        }
        sent += n;
    }
    close(fd);
    if (!send_failed && sent != st.st_size) return fail("%s shrank while being sent", file, 0);
    /* No shutdown(SHUT_WR): some HTTP servers (aiohttp) drop the response on a half-closed socket.
       Content-Length and "Connection: close" tell the server where the request ends. */

    /* Read the whole response (the server closes the connection). */
    size_t cap = CHUNK, len = 0;
    char *resp = malloc(cap + 1);
    if (!resp) return fail("out of memory%s", "", 0);
    for (;;) {
        if (len == cap) {
            if ((long long)cap >= MAX_RESPONSE) return fail("response from the grader is too large%s", "", 0);
            cap *= 2;
            char *r = realloc(resp, cap + 1);
            if (!r) return fail("out of memory%s", "", 0);
            resp = r;
        }
        ssize_t n = read(s, resp + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ECONNRESET && len > 0) break;
            return fail("cannot read the grader's answer%s", "", errno);
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(s);
    resp[len] = '\0';

    if (len == 0) {
        if (send_failed) return fail("cannot send to the grader at %s", sock_path, send_failed);
        return fail("the grader closed the connection without answering%s", "", 0);
    }
    int status = 0;
    if (sscanf(resp, "HTTP/%*d.%*d %d", &status) != 1 && sscanf(resp, "HTTP/%*d %d", &status) != 1)
        return fail("malformed answer from the grader%s", "", 0);
    char *sep = strstr(resp, "\r\n\r\n");
    size_t seplen = 4;
    if (!sep) {
        sep = strstr(resp, "\n\n");
        seplen = 2;
    }
    if (!sep) return fail("malformed answer from the grader (no header end)%s", "", 0);
    size_t head_len = (size_t)(sep - resp);
    char *body = sep + seplen;
    long long body_len = (long long)(resp + len - body);

    const char *te = find_header(resp, head_len, "Transfer-Encoding");
    if (te) {
        while (*te == ' ' || *te == '\t') te++;
        if (strncasecmp(te, "chunked", 7) == 0) {
            body_len = dechunk(body, body_len);
            if (body_len < 0) return fail("malformed chunked answer from the grader%s", "", 0);
        }
    } else {
        const char *cl = find_header(resp, head_len, "Content-Length");
        if (cl) {
            long long want = strtoll(cl, NULL, 10);
            if (want >= 0 && want < body_len) body_len = want;
        }
    }
    body[body_len] = '\0';

    fwrite(body, 1, (size_t)body_len, stdout);
    if (body_len > 0 && body[body_len - 1] != '\n') fputc('\n', stdout);
    fflush(stdout);

    if (status != 200) {
        char code[16];
        snprintf(code, sizeof code, "%d", status);
        return fail("the grader answered HTTP %s", code, 0);
    }
    if (strstr(body, "\"valid\": true") || strstr(body, "\"valid\":true")) return 0;
    if (strstr(body, "\"valid\": false") || strstr(body, "\"valid\":false")) return 1;
    return fail("the grader's answer has no \"valid\" field%s", "", 0);
}
