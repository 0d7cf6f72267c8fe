using IscsiUp.Iscsi.Pdus;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Tests.Target;

public sealed class DataOutTrackerTests
{
    private uint _ttt = 100;
    private uint NewTtt() => _ttt++;

    [Fact]
    public void ImmediateDataCoveringEverythingNeedsNoR2T()
    {
        var tracker = new DataOutTracker(wanted: 4096, expected: 4096, immediate: 4096, unsolicitedFollows: false, firstBurst: 65536, maxBurst: 262144, maxOutstanding: 1);

        Assert.True(tracker.IsComplete);
        Assert.Empty(tracker.TakeR2Ts(NewTtt));
    }

    [Fact]
    public void R2TsRespectMaxBurstAndMaxOutstanding()
    {
        var tracker = new DataOutTracker(wanted: 10000, expected: 10000, immediate: 1000, unsolicitedFollows: false, firstBurst: 4096, maxBurst: 3000, maxOutstanding: 2);

        var first = tracker.TakeR2Ts(NewTtt);
        Assert.Equal([(1000, 3000), (4000, 3000)], first.Select(b => (b.Offset, b.Length)));
        Assert.Empty(tracker.TakeR2Ts(NewTtt)); // two outstanding already

        Assert.Null(tracker.Accept(first[0].Ttt, 0, 1000, 3000, final: true));
        var next = tracker.TakeR2Ts(NewTtt);
        Assert.Equal([(7000, 3000)], next.Select(b => (b.Offset, b.Length)));
        Assert.Equal(2u, next[0].R2TSN);
        Assert.Null(tracker.Accept(first[1].Ttt, 0, 4000, 1500, final: false));
        Assert.Null(tracker.Accept(first[1].Ttt, 1, 5500, 1500, final: true));
        Assert.False(tracker.IsComplete);
        Assert.Null(tracker.Accept(next[0].Ttt, 0, 7000, 3000, final: true));
        Assert.True(tracker.IsComplete);
    }

    [Fact]
    public void NoR2TWhileTheUnsolicitedBurstIsArriving()
    {
        var tracker = new DataOutTracker(wanted: 8192, expected: 8192, immediate: 0, unsolicitedFollows: true, firstBurst: 4096, maxBurst: 8192, maxOutstanding: 1);

        Assert.Empty(tracker.TakeR2Ts(NewTtt));
        Assert.Null(tracker.Accept(Pdu.ReservedTag, 0, 0, 2048, final: false));
        // The initiator stops short of FirstBurstLength: the R2T asks for everything after what came.
        Assert.Null(tracker.Accept(Pdu.ReservedTag, 1, 2048, 1024, final: true));
        var r2t = Assert.Single(tracker.TakeR2Ts(NewTtt));
        Assert.Equal((3072, 5120), (r2t.Offset, r2t.Length));
    }

    [Theory]
    [InlineData(0u, 1u, 0u, 512, "DataSN")]
    [InlineData(0u, 0u, 512u, 512, "offset")]
    [InlineData(0u, 0u, 0u, 8192, "beyond")]
    [InlineData(7u, 0u, 0u, 512, "unknown target transfer tag")]
    public void MalformedDataOutIsDescribed(uint tttOffset, uint dataSN, uint offset, int length, string expected)
    {
        var tracker = new DataOutTracker(wanted: 4096, expected: 4096, immediate: 0, unsolicitedFollows: false, firstBurst: 4096, maxBurst: 4096, maxOutstanding: 1);
        var r2t = Assert.Single(tracker.TakeR2Ts(NewTtt));

        string? error = tracker.Accept(r2t.Ttt + tttOffset, dataSN, offset, length, final: false);

        Assert.NotNull(error);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void UnannouncedUnsolicitedDataIsAnError()
    {
        var tracker = new DataOutTracker(wanted: 4096, expected: 4096, immediate: 0, unsolicitedFollows: false, firstBurst: 4096, maxBurst: 4096, maxOutstanding: 1);

        Assert.Contains("not announced", tracker.Accept(Pdu.ReservedTag, 0, 0, 512, final: true));
    }
}
