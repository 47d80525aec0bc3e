/* qtool subcommands; each returns the process exit code. */
#ifndef QTOOL_COMMANDS_H
#define QTOOL_COMMANDS_H

int cmd_devices(int argc, char **argv);
int cmd_crosscheck(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_quality(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_dequantize(int argc, char **argv);
int cmd_preset(int argc, char **argv);

/* Prints "qtool: <message>" to stderr and returns 2 (usage) or 1 (failure). */
int qtool_usage_error(const char *fmt, ...);
int qtool_error(const char *fmt, ...);

#endif
