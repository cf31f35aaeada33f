// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: configure and query a qkdn node. See Documentation/qkdnctl.md.
 */
#include "qkdnctl.h"

int main(int argc, char **argv)
{
	return qkdnctl_main(argc, argv);
}
