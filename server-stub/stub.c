/* placeholder until the stub lands */
int main(void) { return 70; }
