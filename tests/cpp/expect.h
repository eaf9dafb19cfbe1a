// The one assertion the C++ unit tests use (plain asserts: no framework to
// download): prints the failed condition with its place and exits 1.
#pragma once

#include <cstdio>
#include <cstdlib>

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)
