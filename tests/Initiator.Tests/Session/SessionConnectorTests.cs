using System.Net;
using System.Net.Sockets;
using IscsiUp.Iscsi.Login;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Session;
using IscsiUp.Initiator.Tests.Login;

namespace IscsiUp.Initiator.Tests.Session;

/// <summary>
/// The connector: it connects, follows redirections and logs in again with CHAP MD5 alone when the target
/// refused the list; a portal that cannot be reached fails with a type that says how.
/// </summary>
public sealed class SessionConnectorTests
{
    private static LoginOptions Options(ChapCredentials? chap = null, TimeSpan? timeout = null) => new()
    {
        InitiatorName = "iqn.2026-11.org.iscsi-up.test:initiator",
        TargetName = "iqn.2026-11.org.iscsi-up.test:disk0",
        Chap = chap,
        Timeout = timeout ?? TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task A_target_that_refuses_the_list_of_chap_algorithms_gets_a_second_login_offering_md5_alone()
    {
        await using var target = new ScriptedLoginTarget(LoginScripts.ChapTarget(accepted: "5"));

        var login = await SessionConnector.ConnectAsync(target.Portal, Options(new ChapCredentials("alice", "alices-secret-42"u8.ToArray())), CancellationToken.None);
        await login.Connection.DisposeAsync();

        Assert.Equal(2, target.Connections);
        Assert.Equal(new[] { Chap.Md5 }, login.Options.ChapAlgorithms);
        Assert.Equal(new[] { string.Join(",", Chap.Preferred), "5" }, target.Requests.Select(r => r["CHAP_A"]).OfType<string>());
    }

    [Fact]
    public async Task A_wrong_secret_is_not_retried()
    {
        await using var target = new ScriptedLoginTarget(LoginScripts.ChapTarget(accepted: "5", acceptsResponse: false));
        var options = Options(new ChapCredentials("alice", "wrong-secret-4242"u8.ToArray())) with { ChapAlgorithms = [Chap.Md5] };

        var error = await Assert.ThrowsAsync<LoginException>(() => SessionConnector.ConnectAsync(target.Portal, options, CancellationToken.None));

        Assert.Equal(LoginStatus.AuthenticationFailure, error.Status);
        Assert.Equal(1, target.Connections);
    }

    [Fact]
    public async Task A_redirection_is_followed_to_the_portal_it_names()
    {
        await using var moved = new ScriptedLoginTarget(LoginScripts.WithoutAuthentication);
        await using var first = new ScriptedLoginTarget(LoginScripts.RedirectTo(moved.Portal.ToString()));

        var login = await SessionConnector.ConnectAsync(first.Portal, Options(), CancellationToken.None);
        await login.Connection.DisposeAsync();

        Assert.Equal(moved.Portal, login.Connection.Portal);
        Assert.Equal(1, first.Connections);
        Assert.Equal(1, moved.Connections);
    }

    [Fact]
    public async Task A_refused_connection_is_a_ConnectException_naming_the_portal()
    {
        var portal = new Portal("127.0.0.1", UnusedPort());

        var error = await Assert.ThrowsAsync<ConnectException>(() => SessionConnector.ConnectAsync(portal, Options(), CancellationToken.None));

        Assert.Equal($"cannot connect to portal {portal}: connection refused (is the target running and listening on that port?)", error.Message);
    }

    [Fact]
    public async Task A_portal_that_does_not_answer_the_connect_is_a_ConnectTimeoutException()
    {
        // A listener whose accept queue is full: Linux drops further SYNs, so a connect gets no answer at all.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                try { await filler.ConnectAsync(endpoint, wait.Token); }
                catch (OperationCanceledException) { break; } // the queue is full
            }
            var portal = new Portal("127.0.0.1", endpoint.Port);

            var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() =>
                SessionConnector.ConnectAsync(portal, Options(timeout: TimeSpan.FromSeconds(1)), CancellationToken.None));

            Assert.Equal($"cannot connect to portal {portal}: no answer within 1 s", error.Message);
        }
        finally
        {
            foreach (var filler in fillers) filler.Dispose();
        }
    }

    private static int UnusedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
