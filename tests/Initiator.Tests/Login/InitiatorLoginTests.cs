using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Login;

/// <summary>
/// The login on a scripted connection, without sockets: what its exception says about a refused list of CHAP
/// algorithms, which is what the connector decides its retry with MD5 alone by.
/// </summary>
public sealed class InitiatorLoginTests
{
    private static readonly string DefaultOffer = string.Join(",", Chap.Preferred);

    private static LoginOptions Options(IReadOnlyList<int>? algorithms = null) => new()
    {
        InitiatorName = "iqn.2026-11.org.iscsi-up.test:initiator",
        TargetName = "iqn.2026-11.org.iscsi-up.test:disk0",
        Chap = new ChapCredentials("alice", "alices-secret-42"u8.ToArray()),
        ChapAlgorithms = algorithms,
        Timeout = TimeSpan.FromSeconds(5),
    };

    private static Task<LoginResult> LoginAsync(ScriptedLoginConnection connection, LoginOptions options) =>
        new InitiatorLogin(connection, options).RunAsync(CancellationToken.None);

    [Fact]
    public async Task A_target_that_refuses_the_list_of_algorithms_is_said_to_by_the_exception()
    {
        Assert.True(Chap.Preferred.Count > 1, "the default offer lists several algorithms");
        var connection = new ScriptedLoginConnection(LoginScripts.ChapTarget(accepted: "5"));

        var error = await Assert.ThrowsAsync<LoginException>(() => LoginAsync(connection, Options()));

        Assert.True(error.ChapAlgorithmListRefused, error.Message);
        Assert.Equal(LoginStatus.AuthenticationFailure, error.Status);
        Assert.Equal(DefaultOffer, connection.Sent[1]["CHAP_A"]);
    }

    [Fact]
    public async Task A_target_that_picks_an_algorithm_not_offered_refuses_the_list()
    {
        var connection = new ScriptedLoginConnection(LoginScripts.ChapTarget(accepted: DefaultOffer, picks: "99"));

        var error = await Assert.ThrowsAsync<LoginException>(() => LoginAsync(connection, Options()));

        Assert.True(error.ChapAlgorithmListRefused, error.Message);
        Assert.Contains("accepts none of the CHAP algorithms offered", error.Message);
    }

    [Fact]
    public async Task A_target_that_closes_after_the_list_may_have_refused_it()
    {
        var chap = LoginScripts.ChapTarget(accepted: "5");
        var connection = new ScriptedLoginConnection(request => OffersChapAlgorithms(request) ? null : chap(request));

        var error = await Assert.ThrowsAsync<LoginException>(() => LoginAsync(connection, Options()));

        Assert.True(error.ChapAlgorithmListRefused, error.Message);
        Assert.Contains("closed the connection during login", error.Message);
    }

    [Fact]
    public async Task A_wrong_secret_with_md5_alone_is_a_plain_authentication_failure()
    {
        var connection = new ScriptedLoginConnection(LoginScripts.ChapTarget(accepted: "5", acceptsResponse: false));

        var error = await Assert.ThrowsAsync<LoginException>(() => LoginAsync(connection, Options([Chap.Md5])));

        Assert.False(error.ChapAlgorithmListRefused, error.Message);
        Assert.Equal(LoginStatus.AuthenticationFailure, error.Status);
        Assert.Contains("did not accept CHAP user \"alice\"", error.Message);
    }

    [Fact]
    public async Task Md5_alone_logs_in_where_the_list_was_refused()
    {
        var connection = new ScriptedLoginConnection(LoginScripts.ChapTarget(accepted: "5"));

        var result = await LoginAsync(connection, Options([Chap.Md5]));

        Assert.Equal(7, result.Tsih);
        Assert.Equal("5", connection.Sent[1]["CHAP_A"]);
    }

    private static bool OffersChapAlgorithms(Pdu request) => TextKeys.Parse(request.Data.Span)["CHAP_A"] is not null;
}
