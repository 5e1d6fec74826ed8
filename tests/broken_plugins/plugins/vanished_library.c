/* The library missing_dependency.c links against. Its SONAME names a file that never exists. */
int provhost_vanished_function(void) { return 1; }
