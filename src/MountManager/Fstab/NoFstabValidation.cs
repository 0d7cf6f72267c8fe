namespace IscsiUp.MountManager.Fstab;

/// <summary>Skips verification (for tests with synthetic UUIDs, and systems without findmnt).</summary>
public sealed class NoFstabValidation : IFstabValidator
{
    public static NoFstabValidation Instance { get; } = new();

    public Task<FstabVerification?> VerifyAsync(string path, CancellationToken cancellationToken = default) =>
        Task.FromResult<FstabVerification?>(null);
}
