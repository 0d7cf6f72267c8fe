namespace IscsiUp.TestTarget.Target;

/// <summary>
/// CHAP secrets the target checks. <see cref="User"/>/<see cref="Secret"/> authenticate the initiator;
/// <see cref="MutualUser"/>/<see cref="MutualSecret"/>, when set, are what the target answers with when the
/// initiator asks it to prove itself (mutual CHAP). ToString never shows a secret.
/// </summary>
public sealed record TargetChap(string User, byte[] Secret, string? MutualUser = null, byte[]? MutualSecret = null)
{
    public bool CanAnswerMutual => MutualSecret is not null;

    public override string ToString() => $"CHAP user {User}{(CanAnswerMutual ? " (mutual)" : "")}";
}
