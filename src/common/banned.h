/*
 * banned.h - functions that must not be used in strata, force-included in
 * every translation unit. Each has a bounded or checked replacement:
 * snprintf/strata_buf for sprintf, strata_parse_u64 for atoi and friends.
 */
#ifndef STRATA_BANNED_H
#define STRATA_BANNED_H

#define STRATA_BANNED(func) sorry_##func##_is_banned_in_strata

#undef strcpy
#define strcpy(x, y) STRATA_BANNED(strcpy)
#undef strcat
#define strcat(x, y) STRATA_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) STRATA_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) STRATA_BANNED(strncat)
#undef sprintf
#define sprintf(...) STRATA_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) STRATA_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) STRATA_BANNED(strtok)
#undef atoi
#define atoi(x) STRATA_BANNED(atoi)
#undef atol
#define atol(x) STRATA_BANNED(atol)
#undef gets
#define gets(x) STRATA_BANNED(gets)

#endif
