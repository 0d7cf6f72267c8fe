using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Tests.Session;

public sealed class RepeatedLineFilterTests
{
    [Fact]
    public async Task Lines_that_differ_only_in_numbers_are_written_once_per_window_then_counted()
    {
        var written = new List<string>();
        var filter = new RepeatedLineFilter(TimeSpan.FromMilliseconds(300), written.Add);

        for (int i = 0; i < 1000; i++) filter.Write($"connection failed: Data-In for unknown task 0x{i:x8}; attempt {i}, next in {i * 0.1:0.0} s");
        filter.Write("reconnected to iqn.2026-11.com.example:disk at 192.0.2.10:3260");
        Assert.Equal(["connection failed: Data-In for unknown task 0x00000000; attempt 0, next in 0.0 s",
                      "reconnected to iqn.2026-11.com.example:disk at 192.0.2.10:3260"], written);

        await Task.Delay(400);
        filter.Write("connection failed: Data-In for unknown task 0x0000ffff; attempt 1001, next in 2.5 s");
        Assert.StartsWith("connection failed: Data-In for unknown task 0x0000ffff; attempt 1001, next in 2.5 s (and 999 similar message(s) in the ", written[2]);

        filter.Write("connection failed: Data-In for unknown task 0x00000001; attempt 1002, next in 2.5 s");
        filter.Flush();
        Assert.Equal("1 more message(s) like \"connection failed: Data-In for unknown task #; attempt #, next in # s\" were left out", written[3]);
        Assert.Equal(4, written.Count);
    }
}
