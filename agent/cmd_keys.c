/* placeholder until keygen/sign land */
#include "cmd.h"
int cmd_keygen(int argc, char **argv) { (void)argc; (void)argv; return cmd_die(-41, "keygen: not built yet"); }
int cmd_sign(int argc, char **argv) { (void)argc; (void)argv; return cmd_die(-41, "sign: not built yet"); }
