namespace IscsiUp.TestTarget.Scsi;

/// <summary>An additional sense code and qualifier (ASC/ASCQ, SPC-4 table D.1), with the pairs this target reports.</summary>
public readonly record struct AdditionalSense(byte Code, byte Qualifier)
{
    public static readonly AdditionalSense None = new(0x00, 0x00);
    public static readonly AdditionalSense WriteError = new(0x0C, 0x00);
    public static readonly AdditionalSense UnrecoveredReadError = new(0x11, 0x00);
    public static readonly AdditionalSense ParameterListLengthError = new(0x1A, 0x00);
    public static readonly AdditionalSense MiscompareDuringVerify = new(0x1D, 0x00);
    public static readonly AdditionalSense InvalidCommandOperationCode = new(0x20, 0x00);
    public static readonly AdditionalSense LbaOutOfRange = new(0x21, 0x00);
    public static readonly AdditionalSense InvalidFieldInCdb = new(0x24, 0x00);
    public static readonly AdditionalSense LogicalUnitNotSupported = new(0x25, 0x00);
    public static readonly AdditionalSense InvalidFieldInParameterList = new(0x26, 0x00);
    public static readonly AdditionalSense PowerOnOrReset = new(0x29, 0x00);
    public static readonly AdditionalSense CapacityDataHasChanged = new(0x2A, 0x09);
    public static readonly AdditionalSense ReportedLunsDataHasChanged = new(0x3F, 0x0E);
    public static readonly AdditionalSense SavingParametersNotSupported = new(0x39, 0x00);
    public static readonly AdditionalSense InternalTargetFailure = new(0x44, 0x00);
    public static readonly AdditionalSense DataPhaseError = new(0x4B, 0x00);

    public override string ToString() => $"{Code:x2}/{Qualifier:x2}";
}
