/* sigguard: SIGTERM, SIGINT, SIGHUP (a dropped SSH session) and SIGPIPE
 * (stdout closed, `| head`) while a command builds a directory. What the
 * run made is removed, then the process dies of the same signal, so the
 * caller sees 128+N as from any program. A signal ignored when the
 * program started (nohup, a background job of a script) stays ignored.
 *
 * The handler only calls rmdir(2): the guarded directory must be empty
 * whenever signals are not held (fetch -o stages into unnamed O_TMPFILE
 * files). Around the steps that give files names, hold signals; a signal
 * that arrives meanwhile is acted on at release, after the normal
 * cleanup path ran. A run killed outright (SIGKILL, power cut) leaves the
 * directory, and the next run's fileio_outdir_begin removes it. */
#ifndef NK_SIGGUARD_H
#define NK_SIGGUARD_H

/* Installs the handlers (once per process). */
void sigguard_install(void);

/* The directory to remove on a signal; NULL: none. The path is copied. */
void sigguard_arm(const char *dir);

/* Defers signals: the handler only records one. */
void sigguard_hold(void);

/* Whether a signal arrived while held (to abort instead of commit). */
int sigguard_pending(void);

/* Ends sigguard_hold. Returns the signal that arrived meanwhile (0: none);
 * the caller cleans up and then calls sigguard_die with it. */
int sigguard_release(void);

/* Dies of sig with its default action (never returns). */
void sigguard_die(int sig) __attribute__((noreturn));

#endif
