/* sigguard: leave nothing behind on SIGTERM, SIGINT, SIGHUP, SIGPIPE. */
#include "sigguard.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const int guarded[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };

static char dir[PATH_MAX];
static volatile sig_atomic_t armed, held, pending;

void
sigguard_die(int sig)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	/* From the handler the signal is blocked until it returns; from
	 * elsewhere it is delivered here, at once. */
	raise(sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	_exit(128 + sig); /* not reached unless the default action is ignore */
}

/* Async-signal-safe: rmdir, sigaction, raise, _exit only. */
static void
on_signal(int sig)
{
	int saved = errno;

	if (held) {
		if (!pending)
			pending = sig;
		errno = saved;
		return;
	}
	if (armed)
		(void)rmdir(dir);
	sigguard_die(sig);
}

void
sigguard_install(void)
{
	static int done;
	struct sigaction sa, old;
	size_t i;

	if (done)
		return;
	done = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
		sigaddset(&sa.sa_mask, guarded[i]);
	for (i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++) {
		if (sigaction(guarded[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
			continue; /* nohup and friends asked for it to be ignored */
		sigaction(guarded[i], &sa, NULL);
	}
}

void
sigguard_arm(const char *path)
{
	armed = 0;
	if (path == NULL)
		return;
	if (strlen(path) >= sizeof(dir))
		return;
	memcpy(dir, path, strlen(path) + 1);
	armed = 1;
}

void
sigguard_hold(void)
{
	held = 1;
}

int
sigguard_pending(void)
{
	return pending != 0;
}

int
sigguard_release(void)
{
	int sig;

	held = 0;
	sig = pending;
	pending = 0;
	return sig;
}
