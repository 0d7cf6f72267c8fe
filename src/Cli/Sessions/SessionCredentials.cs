using System.Text;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// The CHAP credentials a session logged in with, kept beside its record as sessions/ID.chap (0600, in the
/// root-only run directory, gone with the record), so that a daemon taking over its devices logs in again with
/// what worked even when no node record holds them (`login --chap-secret-file` without a node) or the node
/// changed since. Node records keep their secrets under /etc/iscsi-up/secrets the same way.
/// </summary>
public static class SessionCredentials
{
    public static string PathOf(int id) => Path.Combine(Config.Paths.SessionsDir, $"{id}.chap");

    /// <summary>Writes the file for session <paramref name="id"/>, or removes it when the session uses no CHAP.</summary>
    public static void Save(int id, ChapCredentials? chap)
    {
        if (chap is null)
        {
            Delete(id);
            return;
        }
        var text = new StringBuilder()
            .Append("user=").Append(chap.User).Append('\n')
            .Append("secret=").Append(Convert.ToBase64String(chap.Secret)).Append('\n');
        if (chap.TargetUser is { } targetUser) text.Append("target_user=").Append(targetUser).Append('\n');
        if (chap.TargetSecret is { } targetSecret) text.Append("target_secret=").Append(Convert.ToBase64String(targetSecret)).Append('\n');
        Config.Paths.EnsurePrivateDirectory(Config.Paths.RunDir);
        Config.Paths.EnsurePrivateDirectory(Config.Paths.SessionsDir);
        SafeFiles.AtomicFile.Write(PathOf(id), text.ToString(), SafeFiles.AtomicFile.OwnerOnly);
    }

    /// <summary>The credentials session <paramref name="id"/> logged in with; null when it used none or the file is unreadable.</summary>
    public static ChapCredentials? Load(int id)
    {
        try
        {
            var values = File.ReadAllLines(PathOf(id)).Select(line => line.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
            if (!values.TryGetValue("user", out string? user) || !values.TryGetValue("secret", out string? secret)) return null;
            return new ChapCredentials(user, Convert.FromBase64String(secret), values.GetValueOrDefault("target_user"),
                values.TryGetValue("target_secret", out string? mutual) ? Convert.FromBase64String(mutual) : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    public static void Delete(int id)
    {
        try { File.Delete(PathOf(id)); } catch (IOException) { }
    }
}
