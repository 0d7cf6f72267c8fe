using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Cli;

/// <summary>Turns exceptions into one line on stderr and an exit code; stack traces only with ISCSI_UP_DEBUG=1.</summary>
public static class ErrorReporter
{
    public static int Report(Exception error, TextWriter stderr)
    {
        if (error is AggregateException { InnerExceptions.Count: 1 } aggregate) error = aggregate.InnerExceptions[0];
        var (message, code) = Classify(error);
        stderr.WriteLine($"iscsi-up: {OneLine(message)}");
        if (Environment.GetEnvironmentVariable("ISCSI_UP_DEBUG") == "1") stderr.WriteLine(error);
        return code;
    }

    /// <summary>
    /// The message with control characters written as escapes (\n, \x1b, ...): an error is one line, and a
    /// value quoted in it (a name given on the command line, say) cannot forge another line or move the cursor.
    /// </summary>
    public static string OneLine(string message)
    {
        if (!message.Any(char.IsControl)) return message;
        var text = new System.Text.StringBuilder(message.Length + 8);
        foreach (char c in message)
        {
            text.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => c <= 0xff ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return text.ToString();
    }

    public static (string Message, int Code) Classify(Exception error) => error switch
    {
        UserError user => (user.Message, user.ExitCode),
        MountManager.MountManagerException mount => (mount.Message, ExitCodes.Error),
        LoginException login => (login.Message, login.Status switch
        {
            LoginStatus.AuthenticationFailure => ExitCodes.AuthenticationFailed,
            LoginStatus.AuthorizationFailure or LoginStatus.NotFound or LoginStatus.TargetRemoved => ExitCodes.FatalLogin,
            _ => ExitCodes.Login,
        }),
        ProtocolException protocol => ($"protocol error from the target: {protocol.Message}", ExitCodes.Error),
        ScsiException scsi => (scsi.Message, ExitCodes.Error),
        Nbd.Kernel.NbdUnavailableException nbd => (nbd.Message, ExitCodes.Error),
        SessionLostException lost => (lost.Message, ExitCodes.Transport),
        ConnectTimeoutException timeout => (timeout.Message, ExitCodes.TransportTimeout),
        ConnectException connect => (connect.Message, ExitCodes.Transport),
        IOException io => (io.Message, ExitCodes.Error),
        UnauthorizedAccessException denied => ($"permission denied: {denied.Message} (run as root?)", ExitCodes.Error),
        OperationCanceledException => ("interrupted", ExitCodes.Error),
        _ => ($"unexpected error: {error.Message} (set ISCSI_UP_DEBUG=1 for details)", ExitCodes.Error),
    };
}
