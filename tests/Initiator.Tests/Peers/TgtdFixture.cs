namespace IscsiUp.Initiator.Tests.Peers;

/// <summary>One tgtd shared by the tests of a class (xunit class fixture); a subclass picks the configuration.</summary>
public class TgtdFixture : IAsyncLifetime
{
    private TgtdTarget? _target;

    public TgtdTarget Target => _target ?? throw new InvalidOperationException("tgtd fixture not started");

    protected virtual TgtdOptions Options => new();

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        _target = await TgtdTarget.StartAsync(Options, cts.Token);
    }

    public async Task DisposeAsync()
    {
        if (_target is not null) await _target.DisposeAsync();
    }
}

/// <summary>tgtd requiring CHAP from the initiator (incoming account) and able to answer mutual CHAP (outgoing account).</summary>
public sealed class TgtdChapFixture : TgtdFixture
{
    public const string User = "alice";
    public const string Secret = "alice-secret-12";
    public const string TargetUser = "tgtd-out";
    public const string TargetSecret = "target-secret-34";

    protected override TgtdOptions Options => new()
    {
        TargetName = "iqn.2026-11.test.iscsi-up:tgtd-chap",
        Size = 4L * 1024 * 1024,
        Chap = (User, Secret),
        OutgoingChap = (TargetUser, TargetSecret),
    };
}
