/* stub: nixos-kexec-stub's command line, TLS context, listening socket
 * and accept loop. Each connection runs on its own detached thread
 * (serve.c), at most STUB_CONN_MAX at once; SIGTERM or SIGINT ends the
 * loop, and running connections get STUB_DRAIN_MS to finish. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "collect.h"
#include "err.h"
#include "fault.h"
#include "fileio.h"
#include "serve.h"

#define STUB_CONN_MAX 64          /* connections served at once */
#define STUB_DRAIN_MS 2000        /* wait for running connections at exit */
#define STUB_LISTEN_BACKLOG 128
#define STUB_FULL_POLL_MS 100     /* recheck for a free slot this often */
#define STUB_ADDR_MAX_BYTES 64    /* "[v6 address]" */

struct opts {
	const char *root;
	const char *cert;
	const char *key;
	const char *listen;
	const char *port_file;
	const char *collect;
};

/* File scope so that connection threads still running at exit keep
 * pointing at live objects. */
static struct fault_set faults;
static struct serve_ctx ctx = { .root_fd = -1, .collect_fd = -1 };

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_cond = PTHREAD_COND_INITIALIZER;
static int slots_used;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: nixos-kexec-stub --root DIR --cert FILE --key FILE\n"
	    "                        [--listen ADDR:PORT] [--port-file FILE] [--fault SPEC]...\n"
	    "                        [--collect FILE]\n"
	    "\n"
	    "An HTTPS file server for tests and demos. Serves the regular files below\n"
	    "DIR over TLS 1.2 or newer: GET, HEAD, one byte range per request\n"
	    "(bytes=A-B, bytes=A-, bytes=-N), one request per connection, up to %d\n"
	    "connections at once. Symbolic links are never followed; '..', '%%' and\n"
	    "directory paths are refused. Not a production server.\n"
	    "\n"
	    "options:\n"
	    "  --root DIR          directory to serve\n"
	    "  --cert FILE         PEM certificate chain, leaf first\n"
	    "  --key FILE          PEM private key\n"
	    "  --listen ADDR:PORT  default 127.0.0.1:0 (a free port); IPv6 as [::1]:PORT\n"
	    "  --port-file FILE    once listening, write the port and a newline to FILE\n"
	    "                      (atomically); stdout gets 'listening on ADDR:PORT'\n"
	    "  --fault SPEC        inject a fault (repeatable, at most %d)\n"
	    "  --collect FILE      also be a report collector: append the body of each\n"
	    "                      POST (one JSON object, Content-Length, at most %d\n"
	    "                      bytes) to FILE as one line, answer 200; without it\n"
	    "                      a POST is answered 405\n"
	    "  --help              this text\n"
	    "\n"
	    "SPEC is KIND[:ARGS][@NAME]. With @NAME a fault applies only to the path\n"
	    "/NAME or a path ending in /NAME; without, to every request. Per kind the\n"
	    "first matching SPEC with uses left applies. Numbers are plain decimal.\n"
	    "  truncate:N        serve the first N bytes as if they were the whole file\n"
	    "  corrupt:OFF       flip the low bit of the byte at file offset OFF (in any\n"
	    "                    response whose body covers OFF)\n"
	    "  throttle:BPS      send at most BPS body bytes per second\n"
	    "  status:CODE[:N]   answer the first N requests (default 1; counted across\n"
	    "                    connections) with CODE (200-599) and a one-line body\n"
	    "  drop:N[:TIMES]    in the first TIMES GET responses (default 1) with more\n"
	    "                    than N body bytes: announce the full length, send N\n"
	    "                    bytes, close without TLS close_notify\n"
	    "  stall:N[:TIMES]   after N body bytes send nothing more, hold the connection\n"
	    "                    open until the client closes or %d s pass; in the first\n"
	    "                    TIMES GET responses with more than N bytes (default all)\n"
	    "  norange           ignore Range: 200 and the whole file (Accept-Ranges: none)\n"
	    "  redirect:URL      answer 302. URL ending in '/': Location is URL followed\n"
	    "                    by the request path without its leading '/'; otherwise\n"
	    "                    Location is URL exactly. http:// or https://, no spaces,\n"
	    "                    no userinfo ('@' starts the NAME).\n"
	    "  http09            answer with bytes but no status line or headers (what\n"
	    "                    an HTTP/0.9 server, or no HTTP server at all, sends)\n"
	    "  unterminated[:TIMES]  send the whole body chunked but never the last\n"
	    "                    chunk, then close without TLS close_notify; in the\n"
	    "                    first TIMES GET responses (default all)\n"
	    "  tlshang[:TIMES]   accept the first TIMES connections (default all) but\n"
	    "                    never answer their TLS handshake; no @NAME (no path is\n"
	    "                    known yet). Held until the client closes or %d s pass\n"
	    "  retryafter:VALUE  add 'Retry-After: VALUE' to the answers of status faults\n"
	    "                    (seconds, or an HTTP date)\n"
	    "  badrange:N        answer a Range request with the bytes N further on (a\n"
	    "                    206 whose Content-Range says so, not what was asked)\n"
	    "  failafter:N:CODE  answer the first N requests as usual (counted across\n"
	    "                    connections), every later one with CODE (a mirror that\n"
	    "                    goes away halfway); wins over every other fault\n"
	    "A status fault wins over redirect, redirect over http09, and those over\n"
	    "the file faults.\n"
	    "\n"
	    "Each connection is logged on stderr as one line: method, path, Range,\n"
	    "status, body bytes sent, faults applied, and how it ended.\n"
	    "\n"
	    "exit status: 0 after SIGTERM or SIGINT, 64 usage or configuration error,\n"
	    "69 cannot listen, 70 internal error, 74 cannot write the port file.\n"
	    "\n"
	    "example:\n"
	    "  nixos-kexec-stub --root bundle --cert server.pem --key server.key \\\n"
	    "      --port-file port --fault drop:1000000@initrd --fault status:503:2@manifest\n",
	    STUB_CONN_MAX, FAULT_MAX, COLLECT_BODY_MAX_BYTES, SERVE_STALL_MAX_S, SERVE_STALL_MAX_S);
}

/* Returns 0, 1 for --help, or NK_E_USAGE. */
static int
parse_opts(int argc, char **argv, struct opts *o, struct nk_err *e)
{
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "fault", required_argument, NULL, 'f' },
		{ "collect", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	o->listen = "127.0.0.1:0";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->root = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'p': o->port_file = optarg; break;
		case 'C': o->collect = optarg; break;
		case 'h': return 1;
		case 'f':
			if ((rc = fault_set_add(&faults, optarg, e)) != 0)
				return rc;
			break;
		default:
			return nk_fail(e, NK_E_USAGE, "unknown option or missing argument: %s",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return nk_fail(e, NK_E_USAGE, "unexpected argument: %s", argv[optind]);
	if (o->root == NULL || o->cert == NULL || o->key == NULL)
		return nk_fail(e, NK_E_USAGE, "--root, --cert and --key are required");
	return 0;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT", numeric only. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, struct nk_err *e)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char host[STUB_ADDR_MAX_BYTES];
	const char *end, *port;
	size_t hl;
	int rc;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return nk_fail(e, NK_E_USAGE, "--listen %s: use [ADDR]:PORT for IPv6", s);
		s++;
		port = end + 2;
	} else {
		end = strrchr(s, ':');
		if (end == NULL)
			return nk_fail(e, NK_E_USAGE, "--listen %s: use ADDR:PORT", s);
		port = end + 1;
	}
	hl = (size_t)(end - s);
	if (hl == 0 || hl >= sizeof(host))
		return nk_fail(e, NK_E_USAGE, "--listen: bad address");
	memcpy(host, s, hl);
	host[hl] = '\0';
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		return nk_fail(e, NK_E_USAGE, "--listen %s:%s: %s", host, port, gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
tls_error(struct nk_err *e, const char *what)
{
	char msg[256] = "unknown error";
	unsigned long ec = ERR_peek_last_error();

	if (ec != 0)
		ERR_error_string_n(ec, msg, sizeof(msg));
	ERR_clear_error();
	return nk_fail(e, NK_E_USAGE, "%s: %s", what, msg);
}

static int
tls_new(const struct opts *o, SSL_CTX **out, struct nk_err *e)
{
	SSL_CTX *t;
	int rc;

	if ((t = SSL_CTX_new(TLS_server_method())) == NULL)
		return tls_error(e, "cannot create a TLS context");
	if (SSL_CTX_set_min_proto_version(t, TLS1_2_VERSION) != 1) {
		rc = tls_error(e, "cannot require TLS 1.2");
		goto fail;
	}
	SSL_CTX_set_options(t, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(t, o->cert) != 1) {
		rc = tls_error(e, o->cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(t, o->key, SSL_FILETYPE_PEM) != 1) {
		rc = tls_error(e, o->key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(t) != 1) {
		rc = tls_error(e, "the key does not match the certificate");
		goto fail;
	}
	*out = t;
	return 0;
fail:
	SSL_CTX_free(t);
	return rc;
}

static int
listen_open(const char *spec, int *fd_out, struct nk_err *e)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int fd, one = 1, rc;

	if ((rc = parse_listen(spec, &ss, &len, e)) != 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return nk_fail(e, NK_E_NET, "socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, STUB_LISTEN_BACKLOG) != 0) {
		rc = nk_fail(e, NK_E_NET, "listen on %s: %s", spec, strerror(errno));
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/* Prints "listening on ADDR:PORT" and writes the port file. */
static int
announce(int fd, const char *port_file, struct nk_err *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[STUB_ADDR_MAX_BYTES], line[16];
	unsigned port;
	int n;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return nk_fail(e, NK_E_NET, "getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		host[0] = '[';
		inet_ntop(AF_INET6, &a->sin6_addr, host + 1, sizeof(host) - 2);
		strcat(host, "]");
		port = ntohs(a->sin6_port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	}
	n = snprintf(line, sizeof(line), "%u\n", port);
	if (port_file != NULL && fileio_write_atomic(port_file, line, (size_t)n, 0644, e) != 0)
		return NK_E_IO;
	printf("listening on %s:%u\n", host, port);
	fflush(stdout);
	return 0;
}

static int
slots_full(void)
{
	int full;

	pthread_mutex_lock(&slot_lock);
	full = slots_used >= STUB_CONN_MAX;
	pthread_mutex_unlock(&slot_lock);
	return full;
}

static void
slot_take(void)
{
	pthread_mutex_lock(&slot_lock);
	slots_used++;
	pthread_mutex_unlock(&slot_lock);
}

static void
slot_put(void)
{
	pthread_mutex_lock(&slot_lock);
	slots_used--;
	pthread_cond_broadcast(&slot_cond);
	pthread_mutex_unlock(&slot_lock);
}

struct job {
	int fd;
};

static void *
conn_main(void *arg)
{
	struct job j = *(struct job *)arg;

	free(arg);
	serve_conn(&ctx, j.fd);
	slot_put();
	return NULL;
}

/* Starts a detached thread for the connection; on failure closes it. */
static void
spawn(int fd)
{
	pthread_attr_t attr;
	pthread_t t;
	struct job *j;
	int rc = -1;

	if ((j = malloc(sizeof(*j))) == NULL)
		goto out;
	j->fd = fd;
	if (pthread_attr_init(&attr) != 0)
		goto out;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	slot_take();
	rc = pthread_create(&t, &attr, conn_main, j);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		slot_put();
out:
	if (rc != 0) {
		fprintf(stderr, "stub: cannot start a connection thread; closing it\n");
		free(j);
		close(fd);
	}
}

static void
accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd >= 0) {
		spawn(fd);
		return;
	}
	/* Out of descriptors: back off instead of spinning. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		fprintf(stderr, "stub: accept: %s\n", strerror(errno));
		poll(NULL, 0, STUB_FULL_POLL_MS);
	}
}

/* Accepts until a signal arrives on sfd. */
static int
accept_loop(int lfd, int sfd, struct nk_err *e)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	int full, n;

	for (;;) {
		full = slots_full();
		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		n = poll(pfd, full ? 1 : 2, full ? STUB_FULL_POLL_MS : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nk_fail(e, NK_E_INTERNAL, "poll: %s", strerror(errno));
		if (pfd[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				fprintf(stderr, "stub: stopping on %s\n", strsignal((int)si.ssi_signo));
			return 0;
		}
		if (!full && (pfd[1].revents & POLLIN))
			accept_one(lfd);
	}
}

/* Lets running connections finish for up to STUB_DRAIN_MS. Returns how
 * many are still running. */
static int
drain(void)
{
	struct timespec until;
	int left;

	serve_stop();
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STUB_DRAIN_MS / 1000;
	until.tv_nsec += (STUB_DRAIN_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&slot_lock);
	while (slots_used > 0 && pthread_cond_timedwait(&slot_cond, &slot_lock, &until) == 0)
		;
	left = slots_used;
	pthread_mutex_unlock(&slot_lock);
	return left;
}

/* Signals arrive on a descriptor, never interrupting a thread: blocked
 * here, before any thread exists, so every thread inherits the mask. */
static int
signals_setup(int *sfd, struct nk_err *e)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return nk_fail(e, NK_E_INTERNAL, "cannot block signals");
	if ((*sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		return nk_fail(e, NK_E_INTERNAL, "signalfd: %s", strerror(errno));
	return 0;
}

static int
run(int argc, char **argv, struct nk_err *e)
{
	struct opts o = { 0 };
	int lfd = -1, sfd = -1, rc, left;

	if ((rc = parse_opts(argc, argv, &o, e)) != 0)
		return rc;
	ctx.faults = &faults;
	ctx.root_fd = open(o.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx.root_fd < 0)
		return nk_fail(e, NK_E_USAGE, "--root %s: %s", o.root, strerror(errno));
	if ((rc = tls_new(&o, &ctx.tls, e)) != 0)
		goto out;
	if (o.collect != NULL && (rc = collect_open(o.collect, &ctx.collect_fd, e)) != 0)
		goto out;
	if ((rc = signals_setup(&sfd, e)) != 0)
		goto out;
	if ((rc = listen_open(o.listen, &lfd, e)) != 0)
		goto out;
	if ((rc = announce(lfd, o.port_file, e)) != 0)
		goto out;
	rc = accept_loop(lfd, sfd, e);
	close(lfd);
	lfd = -1;
	if ((left = drain()) > 0) {
		/* Threads still use ctx: leave it to the exit. */
		fprintf(stderr, "stub: %d connection(s) still open at exit\n", left);
		return rc;
	}
out:
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	SSL_CTX_free(ctx.tls);
	ctx.tls = NULL;
	if (ctx.collect_fd >= 0)
		close(ctx.collect_fd);
	close(ctx.root_fd);
	return rc;
}

int
main(int argc, char **argv)
{
	struct nk_err e = { { 0 } };
	int rc;

	if (fault_set_init(&faults, &e) != 0) {
		fprintf(stderr, "nixos-kexec-stub: %s\n", e.msg);
		return NK_EXIT_INTERNAL;
	}
	rc = run(argc, argv, &e);
	if (rc == 1) {
		usage(stdout);
		rc = 0;
	} else if (rc != 0) {
		fprintf(stderr, "nixos-kexec-stub: %s\n", e.msg);
		if (rc == NK_E_USAGE)
			fprintf(stderr, "Run 'nixos-kexec-stub --help' for usage.\n");
	}
	return nk_exit_code(rc);
}
