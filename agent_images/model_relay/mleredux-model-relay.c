/*
 * mleredux-model-relay PORT SOCKET -- the loopback end of a run's model access.
 *
 * Runs in a tiny helper container whose network namespace the agent's container joins (both have
 * only `lo`). It listens on 127.0.0.1:PORT and copies each connection, both ways, to the unix
 * socket SOCKET that the runner serves (its directory is bind-mounted into this container only).
 * It knows nothing of HTTP: the runner's proxy does the work; this is a pipe.
 *
 * One forked child per connection, so a stalled connection never blocks another; the container's
 * pids limit bounds how many there can be. Written for this project.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_unix(const char *path) {
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) { close(fd); errno = ENAMETOOLONG; return -1; }
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
    return fd;
}

/* Writes all of buf; 0 on success. */
static int write_all(int fd, const char *buf, ssize_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, (size_t)len);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        buf += n;
        len -= n;
    }
    return 0;
}

static const char UNAVAILABLE[] =
    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 93\r\n\r\n"
    "{\"error\": {\"type\": \"model_proxy_unavailable\", \"message\": \"the run's model proxy is not up\"}}\n";

static void relay(int client, const char *path) {
    int upstream = connect_unix(path);
    if (upstream < 0) {
        (void)write_all(client, UNAVAILABLE, (ssize_t)strlen(UNAVAILABLE));
        return;
    }
    struct pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    int open_in[2] = {1, 1}; /* whether each side may still send */
    char buf[65536];
    while (open_in[0] || open_in[1]) {
        fds[0].events = open_in[0] ? POLLIN : 0;
        fds[1].events = open_in[1] ? POLLIN : 0;
        if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; return; }
        for (int i = 0; i < 2; i++) {
            if (!open_in[i] || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int other = fds[1 - i].fd;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                /* This side is done sending: pass the half-close on, keep the other way open. */
                open_in[i] = 0;
                shutdown(other, SHUT_WR);
                if (n < 0) return;
                continue;
            }
            if (write_all(other, buf, n) < 0) return;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: mleredux-model-relay PORT SOCKET\n");
        return 2;
    }
    int port = atoi(argv[1]);
    if (port <= 0 || port > 65535) { fprintf(stderr, "mleredux-model-relay: bad port %s\n", argv[1]); return 2; }
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0) {
        perror("mleredux-model-relay: listen");
        return 1;
    }
    fprintf(stderr, "mleredux-model-relay: 127.0.0.1:%d -> %s\n", port, argv[2]);
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; sleep(1); continue; }
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pid_t pid = fork();
        if (pid == 0) {
            close(listener);
            relay(client, argv[2]);
            _exit(0);
        }
        close(client); /* the child has it (or fork failed and the client sees a reset) */
    }
}
