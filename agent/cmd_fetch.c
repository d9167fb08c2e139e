/* placeholder until fetch lands */
#include "cmd.h"
int cmd_fetch(int argc, char **argv) { (void)argc; (void)argv; return cmd_die(-41, "fetch: not built yet"); }
int cmd_verify(int argc, char **argv) { (void)argc; (void)argv; return cmd_die(-41, "verify: not built yet"); }
