using System.Text;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Peers;

/// <summary>CHAP against a real tgtd that requires it: one-way, mutual, wrong secrets, no credentials, algorithm choice.</summary>
public sealed class TgtdChapTests(TgtdChapFixture fixture) : IClassFixture<TgtdChapFixture>
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(30);
    private TgtdTarget Target => fixture.Target;

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>
    /// Login options with CHAP restricted to MD5, the one algorithm tgtd and we number alike (tgtd takes CHAP_A=7 for
    /// SHA-1, where RFC 7143's IANA registry, LIO and open-iscsi have SHA-256).
    /// </summary>
    private LoginOptions With(ChapCredentials? chap) => Target.LoginOptions() with { Chap = chap, ChapAlgorithms = [Chap.Md5] };

    [Fact]
    public async Task One_way_chap_with_the_right_secret_logs_in()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8(TgtdChapFixture.Secret));
        await using var session = await IscsiSession.LoginAsync(Target.Portal, With(chap), cts.Token);

        var luns = await ScsiDisk.ReportLunsAsync(session, cts.Token);
        Assert.Contains(1, luns);
        await session.PingAsync(cts.Token);
    }

    [Fact]
    public async Task Wrong_secret_is_an_authentication_failure()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8("not-the-secret-1"));

        var error = await Assert.ThrowsAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, With(chap), cts.Token));

        Assert.Equal(LoginStatus.AuthenticationFailure, error.Status);
        Assert.Equal(0x0201, error.Status);
        Assert.Contains("authentication failure", error.Message);
        Assert.DoesNotContain("not-the-secret-1", error.Message);
    }

    [Fact]
    public async Task Unknown_user_is_an_authentication_failure()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var chap = new ChapCredentials("mallory", Utf8(TgtdChapFixture.Secret));

        var error = await Assert.ThrowsAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, With(chap), cts.Token));

        Assert.Equal(0x0201, error.Status);
    }

    [Fact]
    public async Task No_credentials_for_a_target_that_requires_chap_says_so()
    {
        using var cts = new CancellationTokenSource(TestTimeout);

        var error = await Assert.ThrowsAnyAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, With(null), cts.Token));

        // tgtd refuses AuthMethod=None in the operational stage with 0x0201; the message says what is missing.
        Assert.Equal(LoginStatus.AuthenticationFailure, error.Status);
        Assert.Contains("requires CHAP", error.Message);
        Assert.Contains("no credentials", error.Message);
        Assert.Contains(Target.TargetName, error.Message);
        Assert.Contains(TgtdTarget.DefaultInitiator, error.Message);
    }

    [Fact]
    public async Task Mutual_chap_with_tgtds_outgoing_account_logs_in()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8(TgtdChapFixture.Secret), TgtdChapFixture.TargetUser, Utf8(TgtdChapFixture.TargetSecret));
        await using var session = await IscsiSession.LoginAsync(Target.Portal, With(chap), cts.Token);

        var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
        Assert.Equal(Target.Options.Size, disk.CapacityBytes);
    }

    [Fact]
    public async Task Mutual_chap_with_the_wrong_target_secret_fails()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8(TgtdChapFixture.Secret), TgtdChapFixture.TargetUser, Utf8("some-other-secret"));

        var error = await Assert.ThrowsAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, With(chap), cts.Token));

        Assert.Contains("mutual CHAP failed", error.Message);
        Assert.Contains("target secret", error.Message);
    }

    [Fact]
    public async Task Mutual_chap_with_the_wrong_target_user_name_fails()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8(TgtdChapFixture.Secret), "someone-else", Utf8(TgtdChapFixture.TargetSecret));

        var error = await Assert.ThrowsAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, With(chap), cts.Token));

        Assert.Contains("mutual CHAP failed", error.Message);
        Assert.Contains(TgtdChapFixture.TargetUser, error.Message);
    }

    [Fact]
    public async Task Default_algorithm_offer_ends_with_tgtd_choosing_md5()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        Assert.Equal(Chap.Md5, Chap.Preferred[^1]);
        Assert.True(Chap.Preferred.Count > 1, "the default offer should list stronger algorithms before MD5");
        await using var relay = new LoopbackRelay(Target.Portal);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8(TgtdChapFixture.Secret), TgtdChapFixture.TargetUser, Utf8(TgtdChapFixture.TargetSecret));
        var options = Target.LoginOptions() with { Chap = chap }; // ChapAlgorithms left at the default offer

        await using (var session = await IscsiSession.LoginAsync(relay.Portal, options, cts.Token))
            await session.PingAsync(cts.Token);

        string offered = Encoding.ASCII.GetString(relay.FromInitiator);
        string answered = Encoding.ASCII.GetString(relay.FromTarget);
        Assert.Contains($"CHAP_A={string.Join(",", Chap.Preferred)}\0", offered);
        Assert.Contains("CHAP_A=5\0", answered);
        // An MD5 response is 16 bytes: 0x and 32 hex digits, in both directions of mutual CHAP.
        Assert.Matches("CHAP_R=0x[0-9a-f]{32}\0", offered);
        Assert.Matches("CHAP_R=0x[0-9a-fA-F]{32}\0", answered);
    }

    [Fact]
    public async Task Md5_offer_is_what_tgtd_chooses_on_the_wire()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var relay = new LoopbackRelay(Target.Portal);
        var chap = new ChapCredentials(TgtdChapFixture.User, Utf8(TgtdChapFixture.Secret), TgtdChapFixture.TargetUser, Utf8(TgtdChapFixture.TargetSecret));

        await using (var session = await IscsiSession.LoginAsync(relay.Portal, With(chap), cts.Token))
            await session.PingAsync(cts.Token);

        string offered = Encoding.ASCII.GetString(relay.FromInitiator);
        string answered = Encoding.ASCII.GetString(relay.FromTarget);
        Assert.Contains("AuthMethod=CHAP,None\0", offered);
        Assert.Contains("AuthMethod=CHAP\0", answered);
        Assert.Contains("CHAP_A=5\0", offered);
        Assert.Contains("CHAP_A=5\0", answered);
        Assert.Contains($"CHAP_N={TgtdChapFixture.User}\0", offered);
        Assert.Contains($"CHAP_N={TgtdChapFixture.TargetUser}\0", answered);
        Assert.Matches("CHAP_R=0x[0-9a-f]{32}\0", offered);
        Assert.Matches("CHAP_R=0x[0-9a-fA-F]{32}\0", answered);
        Assert.DoesNotContain(TgtdChapFixture.Secret, offered);
    }
}
