namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// Seeded, deterministic property runs: case <c>i</c> of a run uses seed <c>baseSeed + i</c>, and a failing case
/// reports its seed so it can be replayed alone (<c>FUZZ_SEED=N</c> replaces the base seed, <c>FUZZ_CASES=N</c>
/// the number of cases, for every run in the process).
/// </summary>
internal static class FuzzRunner
{
    public static int Seed(int defaultSeed) =>
        int.TryParse(Environment.GetEnvironmentVariable("FUZZ_SEED"), out int seed) ? seed : defaultSeed;

    public static int Cases(int defaultCases) =>
        int.TryParse(Environment.GetEnvironmentVariable("FUZZ_CASES"), out int cases) && cases > 0 ? cases : defaultCases;

    /// <summary>Runs <paramref name="body"/> for each seed; the first failure is rethrown naming its seed.</summary>
    public static void Run(int defaultSeed, int defaultCases, Action<int, Random> body)
    {
        int first = Seed(defaultSeed);
        int cases = Cases(defaultCases);
        for (int i = 0; i < cases; i++)
        {
            int seed = first + i;
            try
            {
                body(seed, new Random(seed));
            }
            catch (Exception e)
            {
                throw new FuzzCaseFailedException(seed, e);
            }
        }
    }

    /// <summary>Async form of <see cref="Run"/>; the whole run must finish within <paramref name="budget"/> (a hang is a failure).</summary>
    public static async Task RunAsync(int defaultSeed, int defaultCases, TimeSpan budget, Func<int, Random, Task> body)
    {
        int first = Seed(defaultSeed);
        int cases = Cases(defaultCases);
        int current = first;
        var run = Task.Run(async () =>
        {
            for (int i = 0; i < cases; i++)
            {
                int seed = first + i;
                Volatile.Write(ref current, seed);
                try
                {
                    await body(seed, new Random(seed)).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    throw new FuzzCaseFailedException(seed, e);
                }
            }
        });
        try
        {
            await run.WaitAsync(budget);
        }
        catch (TimeoutException)
        {
            throw new FuzzCaseFailedException(Volatile.Read(ref current), new TimeoutException($"the run did not finish within {budget.TotalSeconds:0} s (hang?)"));
        }
    }
}

public sealed class FuzzCaseFailedException(int seed, Exception inner)
    : Exception($"fuzz case with seed {seed} failed (replay: FUZZ_SEED={seed} FUZZ_CASES=1): {inner.GetType().Name}: {inner.Message}", inner)
{
    public int FuzzSeed { get; } = seed;
}

/// <summary>A read-only stream over bytes that hands out at most a random number of bytes per read (short reads),
/// completes synchronously, and tracks its position.</summary>
internal sealed class TrickleStream(byte[] bytes, Random? random = null, int maxChunk = int.MaxValue) : Stream
{
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => bytes.Length;
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public int Reads { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        Reads++;
        int n = Math.Min(buffer.Length, bytes.Length - _position);
        if (maxChunk < int.MaxValue && n > 1) n = Math.Min(n, 1 + (random?.Next(maxChunk) ?? maxChunk - 1));
        bytes.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
