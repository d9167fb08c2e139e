#ifndef NK_VERSION_H
#define NK_VERSION_H
#define NK_VERSION "0.1.0"
#endif
