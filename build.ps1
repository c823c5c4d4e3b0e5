#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Build, test, benchmark and publish LZN.Native.
.DESCRIPTION
    Runs under PowerShell 7 installed as a local dotnet tool, so a machine with only the .NET SDK can use it:
        dotnet tool restore
        dotnet pwsh ./build.ps1 test
    The test target runs the suite twice: everything but the CUDA fixtures with no CUDA in sight, then the
    CUDA fixtures (categories GPU and Emulator) on the emulated CUDA device (src/LZN.Emulator, built with g++),
    or on the machine's own GPU with -SystemCuda.
.EXAMPLE
    dotnet pwsh ./build.ps1 emulator
.EXAMPLE
    dotnet pwsh ./build.ps1 test -Filter "FullyQualifiedName~Zones"
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -- --filter "*Gemm*"
.EXAMPLE
    dotnet pwsh ./build.ps1 package
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'emulator', 'bench', 'publish', 'package', 'device-check', 'selftest', 'clean')]
    [string] $Target = 'build',

    [string] $Configuration = 'Release',

    # dotnet test --filter expression (test target only).
    [string] $Filter = '',

    # Runtime identifier for publish and device-check.
    [string] $Runtime = 'linux-x64',

    # test: run the CUDA fixtures on this machine's own CUDA driver instead of the emulated device.
    [switch] $SystemCuda,

    # test: the emulated device's race check for the CUDA fixtures (LZN_EMULATOR_RACECHECK, if set, wins):
    # each launch also runs with its threads and blocks in a shuffled order, and different outputs fail it.
    [ValidateSet('off', 'reverse', 'shuffle')]
    [string] $RaceCheck = 'shuffle',

    # Extra arguments passed through to the tool behind the target (after --).
    [Parameter(ValueFromRemainingArguments = $true)]
    [string[]] $Rest = @()
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
$solution = Join-Path $root 'LZN.Native.sln'
$artifacts = Join-Path $root 'artifacts'

function Invoke-Native([string] $what, [scriptblock] $command) {
    & $command
    if ($LASTEXITCODE -ne 0) { throw "$what failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    Invoke-Native 'build' { dotnet build $solution -c $Configuration --nologo }
}

# Builds the emulated CUDA device (g++) into artifacts/emulator, with the test suite's planted-fault kernels;
# returns the folder, or $null with the reason printed when it cannot be built (then the CUDA fixtures skip,
# or fail where LZN_REQUIRE_CUDA=1).
function Invoke-Emulator {
    $folder = Join-Path $artifacts 'emulator'
    $planted = Join-Path $root 'tests/LZN.Tests/Emulator/kernels'
    $output = @(& bash (Join-Path $root 'src/LZN.Emulator/build.sh') $folder $planted 2>&1)
    $status = $LASTEXITCODE
    $output | Select-Object -SkipLast 1 | ForEach-Object { Write-Host $_ }
    if ($status -ne 0) {
        Write-Host ($output | Select-Object -Last 1)
        Write-Host "the emulated CUDA device could not be built (exit code $status)"
        return $null
    }
    return ($output | Select-Object -Last 1).ToString()
}

# One dotnet test run into its own TRX file; returns the run's counters (total, executed, passed, failed).
function Invoke-TestRun([string] $name, [string] $categoryFilter, [hashtable] $environment) {
    $results = Join-Path $artifacts "test-results/$name"
    $filter = if ($Filter) { "($Filter)&($categoryFilter)" } else { $categoryFilter }
    $arguments = @('test', $solution, '-c', $Configuration, '--no-build', '--nologo', '--filter', $filter,
        '--results-directory', $results, '--logger', 'trx;LogFileName=tests.trx', '--logger', 'console;verbosity=normal')
    $saved = @{}
    foreach ($key in $environment.Keys) {
        $saved[$key] = [Environment]::GetEnvironmentVariable($key)
        [Environment]::SetEnvironmentVariable($key, $environment[$key])
    }
    try {
        & dotnet @arguments | Out-Host
        $testExit = $LASTEXITCODE
    } finally {
        foreach ($key in $saved.Keys) { [Environment]::SetEnvironmentVariable($key, $saved[$key]) }
    }
    $trx = Get-ChildItem -Path $results -Filter '*.trx' -Recurse -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $trx) {
        # A filter that matches nothing writes no TRX; a run that crashed writes none either.
        if ($testExit -eq 0) { return @{ Total = 0; Executed = 0; Passed = 0; Failed = 0 } }
        throw "dotnet test ($name) wrote no TRX file (exit code $testExit)"
    }
    [xml] $report = Get-Content -Raw $trx.FullName
    $counters = $report.TestRun.ResultSummary.Counters
    $failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
    if ($testExit -ne 0 -and $failed -eq 0) { $failed = 1 }
    return @{ Total = [int]$counters.total; Executed = [int]$counters.executed; Passed = [int]$counters.passed; Failed = $failed }
}

# Runs the whole suite and prints the plain 'N passed, N failed, N skipped' line over both runs.
function Invoke-Test {
    Invoke-Build
    $results = Join-Path $artifacts 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    $cudaCategories = 'TestCategory=GPU|TestCategory=Emulator'
    $cudaEnvironment = @{}
    if (-not $SystemCuda) {
        $emulator = Invoke-Emulator
        if ($emulator) {
            $race = if ($env:LZN_EMULATOR_RACECHECK) { $env:LZN_EMULATOR_RACECHECK } else { $RaceCheck }
            Write-Host "emulated CUDA device: $emulator (race check: $race)"
            $cudaEnvironment['LZN_CUDA_LIB_DIR'] = $emulator
            $cudaEnvironment['LZN_EMULATOR_RACECHECK'] = $race
            # Scratch buffers start as NaN, so a kernel reading an element it never wrote fails its table case.
            $cudaEnvironment['LZN_CUDA_POISON_SCRATCH'] = '1'
        }
    }
    # The first run sees no CUDA at all (auto falls back to the CPU there); only the CUDA fixtures see the device.
    $runs = @(
        (Invoke-TestRun 'host' 'TestCategory!=GPU&TestCategory!=Emulator' @{ LZN_CUDA_LIB_DIR = $null }),
        (Invoke-TestRun 'cuda' $cudaCategories $cudaEnvironment))
    $passed = ($runs | ForEach-Object { $_.Passed } | Measure-Object -Sum).Sum
    $failed = ($runs | ForEach-Object { $_.Failed } | Measure-Object -Sum).Sum
    # Ignored tests appear as results with outcome NotExecuted; the notExecuted counter stays 0.
    $skipped = ($runs | ForEach-Object { $_.Total - $_.Executed } | Measure-Object -Sum).Sum
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -ne 0) { exit 1 }
}

# Packs LZN.Native (with its XML documentation) and the lzn tool into artifacts/packages, then uses them as a user
# would: builds and runs samples/LZN.Sample against the package from that feed, and installs the tool from it into
# artifacts/tools and runs `lzn info`. Restores go to a fresh folder, so a package cached from an earlier pack of the
# same version is never what gets tested.
function Invoke-Package {
    $feed = Join-Path $artifacts 'packages'
    $cache = Join-Path $artifacts 'package-cache'
    $tools = Join-Path $artifacts 'tools'
    foreach ($folder in @($feed, $cache, $tools)) {
        if (Test-Path $folder) { Remove-Item -Recurse -Force $folder }
    }
    Invoke-Native 'pack LZN.Native' { dotnet pack (Join-Path $root 'src/LZN.Native') -c $Configuration -o $feed --nologo }
    Invoke-Native 'pack lzn' { dotnet pack (Join-Path $root 'src/LZN.Cli') -c $Configuration -o $feed --nologo }
    $sample = Join-Path $root 'samples/LZN.Sample'
    Invoke-Native 'build the sample' {
        dotnet build $sample -c $Configuration --nologo "-p:RestoreAdditionalProjectSources=$feed" "-p:RestorePackagesPath=$cache"
    }
    Invoke-Native 'run the sample' { dotnet run --project $sample -c $Configuration --no-build }
    [xml] $props = Get-Content -Raw (Join-Path $root 'Directory.Build.props')
    $version = @($props.Project.PropertyGroup | ForEach-Object { $_.Version } | Where-Object { $_ })[0]
    $saved = $env:NUGET_PACKAGES
    $env:NUGET_PACKAGES = $cache
    try {
        Invoke-Native 'install the lzn tool' { dotnet tool install lzn --version $version --tool-path $tools --add-source $feed }
    } finally {
        $env:NUGET_PACKAGES = $saved
    }
    Invoke-Native 'lzn info' { & (Join-Path $tools 'lzn') info }
    Write-Host "packages: $feed"
}

switch ($Target) {
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'emulator' {
        $emulator = Invoke-Emulator
        if (-not $emulator) { exit 1 }
        Write-Host $emulator
    }
    'bench' {
        $benchArgs = if ($Rest.Count -gt 0) { $Rest } else { @('--filter', '*') }
        Invoke-Native 'bench' { dotnet run -c Release --project (Join-Path $root 'bench/LZN.Benchmarks') -- @benchArgs }
    }
    'publish' {
        $out = Join-Path $root "publish/$Runtime"
        Invoke-Native 'publish' {
            dotnet publish (Join-Path $root 'src/LZN.Cli') -c Release -r $Runtime --self-contained `
                -p:PublishTrimmed=true -p:PublishSingleFile=true -o $out --nologo
        }
        Write-Host "published: $out"
    }
    'package' { Invoke-Package }
    'device-check' { Invoke-Native 'device-check' { bash (Join-Path $root 'tools/device-check.sh') @Rest } }
    'selftest' {
        Invoke-Native 'selftest' { dotnet run -c $Configuration --project (Join-Path $root 'src/LZN.Cli') -- selftest @Rest }
    }
    'clean' {
        foreach ($folder in @('artifacts', 'publish')) {
            $path = Join-Path $root $folder
            if (Test-Path $path) { Remove-Item -Recurse -Force $path }
        }
        Invoke-Native 'clean' { dotnet clean $solution -c $Configuration --nologo }
    }
}
