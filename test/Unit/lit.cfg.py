# lit configuration that runs every GoogleTest unit test binary under
# unittests/, so that lit counts each unit test case on its own.

import os

import lit.formats

config.name = "lowbit-Unit"
config.suffixes = []
config.test_exec_root = os.path.join(config.lowbit_obj_root, "unittests")
config.test_source_root = config.test_exec_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
