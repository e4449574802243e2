#include <cstdio>
int main() { std::puts("sds"); return 0; }
