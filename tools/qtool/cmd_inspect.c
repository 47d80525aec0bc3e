/* qtool inspect: placeholder until its issue lands (issue 3). */
#include "commands.h"

int cmd_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return qtool_error("inspect is not implemented yet");
}
