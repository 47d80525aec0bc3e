/* qtool dequantize: placeholder until its issue lands (issue 3). */
#include "commands.h"

int cmd_dequantize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return qtool_error("dequantize is not implemented yet");
}
