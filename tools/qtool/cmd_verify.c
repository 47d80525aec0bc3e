/* qtool verify: placeholder until its issue lands (issue 3). */
#include "commands.h"

int cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return qtool_error("verify is not implemented yet");
}
