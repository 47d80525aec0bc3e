/* qtool preset: placeholder until its issue lands (issue 3). */
#include "commands.h"

int cmd_preset(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return qtool_error("preset is not implemented yet");
}
