namespace IscsiUp.MountManager.Fstab;

/// <summary>Checks an fstab file the way boot will read it.</summary>
public interface IFstabValidator
{
    /// <summary>
    /// Verifies <paramref name="path"/>. Returns null when no verifier is available (the edit then goes
    /// ahead unverified); otherwise the errors found, each as a stable key that can be compared between
    /// the original and the edited file.
    /// </summary>
    Task<FstabVerification?> VerifyAsync(string path, CancellationToken cancellationToken = default);
}
