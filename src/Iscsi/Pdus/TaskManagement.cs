namespace IscsiUp.Iscsi.Pdus;

/// <summary>Task management function codes and responses (RFC 7143 sections 11.5.1 and 11.6.1).</summary>
public static class TaskManagement
{
    public const byte AbortTask = 1;
    public const byte AbortTaskSet = 2;
    public const byte ClearAca = 3;
    public const byte ClearTaskSet = 4;
    public const byte LogicalUnitReset = 5;
    public const byte TargetWarmReset = 6;
    public const byte TargetColdReset = 7;
    public const byte TaskReassign = 8;

    public const byte FunctionComplete = 0;
    public const byte TaskDoesNotExist = 1;
    public const byte LunDoesNotExist = 2;
    public const byte ReassignNotSupported = 4;
    public const byte FunctionNotSupported = 5;
}
