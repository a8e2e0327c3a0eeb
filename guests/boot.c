/* Example guest: returns at once, so its exit marks how long boot-to-main took. */
int main(void)
{
    return 0;
}
