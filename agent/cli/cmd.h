/* cmd: the agent's subcommands. Each takes argv after the command name
 * (argv[0] is the command) and returns the process exit status. Only
 * these and main print. */
#ifndef NK_CMD_H
#define NK_CMD_H

int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_boot(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_handoff(int argc, char **argv);

/* Prints "nixos-kexec: <msg>" to stderr and returns the exit status. */
int cmd_die(int code, const char *msg);
/* Prints a usage error and returns 64. */
int cmd_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
