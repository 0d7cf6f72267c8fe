namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// Striped locks: stripe <c>s</c> is guarded by lock <c>s mod Count</c>, so neighbouring stripes
/// never share a lock. Callers hold at most one of these at a time, which rules out deadlock.
/// </summary>
internal sealed class StripeLockSet
{
    public const int DefaultCount = 1024;

    private readonly Lock[] _locks;
    private readonly ulong _mask;

    public StripeLockSet(int count = DefaultCount)
    {
        if (count <= 0 || (count & (count - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "Lock count must be a positive power of two.");
        }

        _locks = new Lock[count];
        for (int i = 0; i < count; i++)
        {
            _locks[i] = new Lock();
        }

        _mask = (ulong)count - 1;
    }

    public Lock For(long stripe) => _locks[(int)((ulong)stripe & _mask)];
}
