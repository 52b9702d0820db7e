/* static.c -- a statically linked program: cr_run must warn that libcr
 * cannot be preloaded into it. */
int main(void) { return 0; }
