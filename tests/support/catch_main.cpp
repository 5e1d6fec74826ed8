// Catch2's main(), compiled once for every test executable that links provhost_catch_main.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
