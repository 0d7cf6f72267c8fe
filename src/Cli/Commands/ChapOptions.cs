using System.CommandLine;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// CHAP options. Secrets are read from files (mode 0600 expected), never taken on the command line where
/// `ps` would show them.
/// </summary>
public sealed class ChapOptions
{
    private readonly Option<string?> _user;
    private readonly Option<string?> _secretFile;
    private readonly Option<string?> _targetUser;
    private readonly Option<string?> _targetSecretFile;

    public ChapOptions(bool discovery)
    {
        string scope = discovery ? "discovery" : "session";
        _user = new Option<string?>("--chap-user") { Description = $"CHAP user name for the {scope}" };
        _secretFile = new Option<string?>("--chap-secret-file") { Description = "File holding the CHAP secret (first line)" };
        _targetUser = new Option<string?>("--chap-target-user") { Description = "Expected target user name for mutual CHAP" };
        _targetSecretFile = new Option<string?>("--chap-target-secret-file") { Description = "File holding the target's secret: enables mutual CHAP" };
    }

    public void AddTo(Command command)
    {
        command.Options.Add(_user);
        command.Options.Add(_secretFile);
        command.Options.Add(_targetUser);
        command.Options.Add(_targetSecretFile);
    }

    public ChapCredentials? Read(System.CommandLine.ParseResult result)
    {
        string? user = result.GetValue(_user);
        string? secretFile = result.GetValue(_secretFile);
        string? targetSecretFile = result.GetValue(_targetSecretFile);
        if (user is null && secretFile is null)
        {
            if (targetSecretFile is not null) throw new UserError("--chap-target-secret-file needs --chap-user and --chap-secret-file");
            return null;
        }
        if (user is null || secretFile is null) throw new UserError("CHAP needs both --chap-user and --chap-secret-file");
        return new ChapCredentials(user, ReadSecret(secretFile), result.GetValue(_targetUser), targetSecretFile is null ? null : ReadSecret(targetSecretFile));
    }

    private static byte[] ReadSecret(string path)
    {
        try
        {
            string line = File.ReadLines(path).FirstOrDefault()?.TrimEnd('\r') ?? "";
            if (line.Length == 0) throw new UserError($"CHAP secret file {path} is empty");
            return System.Text.Encoding.UTF8.GetBytes(line);
        }
        catch (IOException e) { throw new UserError($"cannot read CHAP secret file {path}: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new UserError($"cannot read CHAP secret file {path}: permission denied"); }
    }
}
