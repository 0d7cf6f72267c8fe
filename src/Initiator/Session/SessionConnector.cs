using IscsiUp.Initiator.Login;
using IscsiUp.Io;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// Connects to a portal and logs in: the one place that opens connections for a login, follows the target's
/// redirections and retries with CHAP MD5 alone when the target refused our list of CHAP algorithms. The login
/// itself (<see cref="InitiatorLogin"/>) only reports what happened, in the type and properties of its exception.
/// </summary>
public static class SessionConnector
{
    private const int MaxRedirects = 3;

    /// <summary>
    /// A logged-in connection to <paramref name="portal"/>, or the last failure: a <see cref="ConnectException"/>
    /// when no connection could be made, a <see cref="LoginException"/> when the target refused the login. The
    /// connection sends by <paramref name="schedule"/> (null: its own).
    /// </summary>
    public static async Task<ConnectedLogin> ConnectAsync(Portal portal, LoginOptions options, CancellationToken ct, SendSchedule? schedule = null)
    {
        for (int redirect = 0; ; redirect++)
        {
            var connection = await IscsiConnection.ConnectAsync(portal, options.Timeout, ct, schedule).ConfigureAwait(false);
            try
            {
                var result = await new InitiatorLogin(connection, options).RunAsync(ct).ConfigureAwait(false);
                return new ConnectedLogin(connection, result, options);
            }
            catch (LoginRedirectException e) when (redirect < MaxRedirects)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                if (!Portal.TryParse(e.TargetAddress, out var moved, out var error))
                    throw new LoginException($"target {options.TargetName} redirected the login to an invalid address: {error}", e.Status);
                portal = moved!;
            }
            catch (LoginException e) when (e.ChapAlgorithmListRefused && options.Chap is not null && Chap.IsSupported(Chap.Md5))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                options = options with { ChapAlgorithms = [Chap.Md5] };
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }
}
