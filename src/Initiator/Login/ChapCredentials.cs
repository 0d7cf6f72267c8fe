namespace IscsiUp.Initiator.Login;

/// <summary>
/// CHAP user names and secrets. <see cref="TargetUser"/>/<see cref="TargetSecret"/> enable mutual CHAP (the
/// target proves itself too). ToString never shows a secret.
/// </summary>
public sealed record ChapCredentials(string User, byte[] Secret, string? TargetUser = null, byte[]? TargetSecret = null)
{
    public bool IsMutual => TargetSecret is not null;

    public override string ToString() => $"CHAP user {User}{(IsMutual ? " (mutual)" : "")}";
}
