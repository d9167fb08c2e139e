/* placeholder until bundle lands */
#include "cmd.h"
int cmd_bundle(int argc, char **argv) { (void)argc; (void)argv; return cmd_die(-41, "bundle: not built yet"); }
