using System.Numerics;
using System.Text;

namespace IscsiUp.Nbd;

/// <summary>
/// One named export of the NBD server: a name clients ask for, an optional human description and the
/// <see cref="IBlockBackend"/> that serves the bytes. Derives the transmission flags and the advertised block
/// size constraints from the backend so the flags always tell the truth.
/// </summary>
public sealed class NbdExport
{
    private byte[]? _zeroes;

    public NbdExport(string name, IBlockBackend backend, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(backend);
        ValidateString(name, nameof(name));
        if (description is not null)
            ValidateString(description, nameof(description));
        int bs = backend.BlockSize;
        if (bs <= 0 || !BitOperations.IsPow2(bs) || bs > 65536)
            throw new ArgumentException($"backend block size {bs} is not a power of two between 1 and 65536", nameof(backend));
        if (backend.MaxTransferBlocks < 1 || backend.MaxTrimBlocks < 1 || backend.MaxZeroBlocks < 1)
            throw new ArgumentException($"backend limits (transfer {backend.MaxTransferBlocks}, trim {backend.MaxTrimBlocks}, zeroes {backend.MaxZeroBlocks} blocks) must be at least one block", nameof(backend));
        if (backend.BlockCount < 0 || backend.BlockCount > long.MaxValue / bs)
            throw new ArgumentException($"backend block count {backend.BlockCount} is out of range", nameof(backend));
        Name = name;
        Description = description;
        Backend = backend;
    }

    public string Name { get; }
    public string? Description { get; }
    public IBlockBackend Backend { get; }

    /// <summary>Export size in bytes as sent to clients.</summary>
    public ulong Size => (ulong)Backend.BlockCount * (ulong)Backend.BlockSize;

    /// <summary>Transmission flags derived from what the backend (and this server) really supports.</summary>
    public ushort TransmissionFlags
    {
        get
        {
            var caps = Backend.Capabilities;
            bool readOnly = caps.HasFlag(BlockCapabilities.ReadOnly);
            ushort flags = NbdConstants.FlagHasFlags;
            if (readOnly)
                flags |= NbdConstants.FlagReadOnly;
            if (caps.HasFlag(BlockCapabilities.Flush))
                flags |= NbdConstants.FlagSendFlush;
            if (caps.HasFlag(BlockCapabilities.Fua) && !readOnly)
                flags |= NbdConstants.FlagSendFua;
            if (caps.HasFlag(BlockCapabilities.Trim) && !readOnly)
                flags |= NbdConstants.FlagSendTrim;
            // Write zeroes is always available on a writable export: the server emulates it with writes of a
            // fixed zero buffer when the backend has no native zeroing.
            if (!readOnly)
                flags |= NbdConstants.FlagSendWriteZeroes;
            if (caps.HasFlag(BlockCapabilities.MultiConnection))
                flags |= NbdConstants.FlagCanMultiConn;
            return flags;
        }
    }

    /// <summary>Advertised minimum block size: the backend's logical block (smaller requests are served by
    /// read-modify-write, but clients that negotiated block sizes avoid them).</summary>
    public uint MinimumBlockSize => (uint)Backend.BlockSize;

    /// <summary>Advertised preferred block size: the backend's preferred size rounded down to a power of two,
    /// at least max(minimum, 512) and at most the maximum.</summary>
    public uint PreferredBlockSize
    {
        get
        {
            uint min = Math.Max(MinimumBlockSize, 512u);
            uint pref = (uint)Math.Max(Backend.PreferredBlockSize, 1);
            pref = BitOperations.IsPow2(pref) ? pref : BitOperations.RoundUpToPowerOf2(pref) >> 1;
            pref = Math.Max(pref, min);
            return Math.Min(pref, MaximumBlockSize);
        }
    }

    /// <summary>Advertised maximum request length: the server splits requests into backend-sized pieces
    /// itself, so it offers the protocol's interoperable maximum of 32 MiB.</summary>
    public uint MaximumBlockSize => NbdConstants.MaxPayloadLength;

    /// <summary>Serialises read-modify-write cycles on partial blocks of this export (shared by all connections).</summary>
    internal SemaphoreSlim PartialBlockLock { get; } = new(1, 1);

    /// <summary>Length of the pieces used to emulate write zeroes with ordinary writes.</summary>
    internal int ZeroChunkLength => Math.Max(Backend.BlockSize, Math.Min(BlockMapping.PieceLength(Backend), 1024 * 1024) / Backend.BlockSize * Backend.BlockSize);

    /// <summary>A shared all-zero buffer of <see cref="ZeroChunkLength"/> bytes (never written to).</summary>
    internal ReadOnlyMemory<byte> Zeroes
    {
        get
        {
            var z = Volatile.Read(ref _zeroes);
            if (z is null)
            {
                Interlocked.CompareExchange(ref _zeroes, new byte[ZeroChunkLength], null);
                z = _zeroes!;
            }
            return z;
        }
    }

    /// <summary>Finds the export a client asked for; the empty name selects the default export (one named
    /// "", else the first).</summary>
    public static NbdExport? Resolve(IReadOnlyList<NbdExport> exports, string name)
    {
        foreach (var e in exports)
            if (string.Equals(e.Name, name, StringComparison.Ordinal))
                return e;
        if (name.Length == 0 && exports.Count > 0)
            return exports[0];
        return null;
    }

    private static void ValidateString(string s, string param)
    {
        if (s.Contains('\0'))
            throw new ArgumentException("NBD strings must not contain NUL", param);
        if (Encoding.UTF8.GetByteCount(s) > NbdConstants.MaxStringLength)
            throw new ArgumentException($"NBD strings are limited to {NbdConstants.MaxStringLength} bytes", param);
    }
}
