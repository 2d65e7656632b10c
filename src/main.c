/* mlc: the ml-connector command line. */
#include "mlc_cli.h"

int main(int argc, char **argv)
{
    return mlc_cli_main(argc, argv);
}
