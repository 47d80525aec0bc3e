/* qtool convert: placeholder until its issue lands (issue 3). */
#include "commands.h"

int cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return qtool_error("convert is not implemented yet");
}
