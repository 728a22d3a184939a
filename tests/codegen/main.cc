// The Catch2 main of the code generator's tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
