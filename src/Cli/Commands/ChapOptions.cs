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
        _user = new Option<string?>("--chap-user") { Description = $"CHAP user name for the {scope}", HelpName = "USER" };
        _secretFile = new Option<string?>("--chap-secret-file") { Description = "File holding the CHAP secret (first line)", HelpName = "FILE" };
        _targetUser = new Option<string?>("--chap-target-user") { Description = "Expected target user name for mutual CHAP", HelpName = "USER" };
        _targetSecretFile = new Option<string?>("--chap-target-secret-file") { Description = "File holding the target's secret: enables mutual CHAP", HelpName = "FILE" };
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
        if (user.Length == 0 || user.Any(char.IsControl)) throw new UserError("--chap-user needs a user name (no control characters)");
        return new ChapCredentials(user, ReadSecret(secretFile), result.GetValue(_targetUser), targetSecretFile is null ? null : ReadSecret(targetSecretFile));
    }

    /// <summary>The same options for another iscsi-up command (file paths made absolute), or null when none were given.</summary>
    public IEnumerable<string>? Arguments(System.CommandLine.ParseResult result)
    {
        if (result.GetValue(_user) is not { } user || result.GetValue(_secretFile) is not { } secretFile) return null;
        var args = new List<string> { "--chap-user", user, "--chap-secret-file", Path.GetFullPath(secretFile) };
        if (result.GetValue(_targetUser) is { } targetUser) args.AddRange(["--chap-target-user", targetUser]);
        if (result.GetValue(_targetSecretFile) is { } targetSecretFile) args.AddRange(["--chap-target-secret-file", Path.GetFullPath(targetSecretFile)]);
        return args;
    }

    private static byte[] ReadSecret(string path) => Config.ChapSecretFile.Read(path, Console.Error);
}
