using IscsiUp.Nbd;
using Xunit.Abstractions;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Nbd.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NbdSerialCollection
{
    public const string Name = "NbdSerial";
}

/// <summary>
/// Near-4 GiB TRIM and WRITE_ZEROES requests on a sparse 8 GiB backend: served in backend-sized pieces and
/// without buffers proportional to the request. Runs alone so the process-wide allocation counter means something.
/// </summary>
[Collection(NbdSerialCollection.Name)]
public sealed class NbdLargeRangeTests(ITestOutputHelper output)
{
    private const long GiB = 1024L * 1024 * 1024;
    private const uint NearlyFourGiB = 0xFFFFFE00;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Huge_trim_and_write_zeroes_use_bounded_memory(bool nativeZeroes)
    {
        var backend = new MemoryBackend(capacity: 8 * GiB, maxTransferLength: nativeZeroes ? 64 * 1024 : 1024 * 1024)
        {
            SupportsWriteZeroes = nativeZeroes,
        };
        var marker = Enumerable.Repeat((byte)0xee, 4096).ToArray();
        long start = GiB - 512;
        backend.Poke(start - 4096, marker);                 // just before the range: must survive
        backend.Poke(start, marker);                        // inside (unaligned to the 64 KiB chunks)
        backend.Poke(start + 3 * GiB, marker);              // inside
        backend.Poke(start + NearlyFourGiB, marker);        // just after: must survive

        var (srv, cli) = RawNbdClient.SocketPair();
        using var cts = new CancellationTokenSource();
        var serving = NbdTransmission.ServeAsync(srv, new NbdExport("big", backend), null, output.WriteLine, cts.Token);
        await using var c = new RawNbdClient(cli);

        long before = GC.GetTotalAllocatedBytes(precise: true);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await c.SendRequestAsync(CmdWriteZeroes, 1, (ulong)start, NearlyFourGiB, flags: CmdFlagNoHole);
        Assert.Equal((0u, 1ul), await c.ReadSimpleReplyAsync());
        await c.SendRequestAsync(CmdTrim, 2, (ulong)start, NearlyFourGiB);
        Assert.Equal((0u, 2ul), await c.ReadSimpleReplyAsync());
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        output.WriteLine($"allocated {allocated / 1024} KiB in {sw.Elapsed}; backend zero calls {backend.ZeroWrites}, writes {backend.Writes}, trims {backend.Trims}");

        Assert.True(allocated < 64L * 1024 * 1024, $"allocated {allocated} bytes for a 4 GiB request");
        Assert.Empty(backend.Violations);
        Assert.Equal(new byte[4096], backend.Peek(start, 4096));
        Assert.Equal(new byte[4096], backend.Peek(start + 3 * GiB, 4096));
        Assert.Equal(marker, backend.Peek(start - 4096, 4096));
        Assert.Equal(marker, backend.Peek(start + NearlyFourGiB, 4096));
        if (nativeZeroes)
        {
            Assert.Equal(0, Interlocked.Read(ref backend.Unmaps));
            Assert.Equal(64 * 1024, backend.MaxZeroesLength);
        }
        else
        {
            Assert.Equal(0, Interlocked.Read(ref backend.ZeroWrites));
            Assert.Equal(1024 * 1024, backend.MaxWriteLength);
        }
        Assert.True(backend.MaxTrimLength <= backend.MaxTransferLength);

        await c.SendRequestAsync(CmdDisc, 3, 0, 0);
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
