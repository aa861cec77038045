"""Find the DCE series of a case among everything a real exam download holds, from headers alone.

A case folder (a TCIA Patient/Study/Series tree with `1-01.dcm` files, a flat folder of mixed series, links
into an archive) is scanned once: every DICOM file's header is read without its pixel data
(`radpath.mri.dicom.read_header`) and grouped by study and series. Each series is then either usable or
skipped with its reason:

* objects that are not images: SEG, RTSTRUCT, SR, presentation states, ... (and other modalities than MR);
* derived images: ImageType DERIVED (GE's `DERIVED\\PRIMARY\\DCE\\PE1` and `...\\SER` maps, subtractions, MIPs,
  CAD maps), secondary captures, and ORIGINAL images whose ImageType says SUB/MIP/PROJECTION;
* localisers (ImageType LOCALIZER, a description like "3-plane loc"/"scout"/"survey", or slices in several
  orientations), series of several slice sizes, enhanced multi-frame files;
* multi-echo (several echo times) and diffusion-weighted series, whose repeated slices are not time points;
* series of a single time point (T2, a pre-contrast T1) that are not one phase of a series-per-phase DCE.

A dynamic acquisition is a series holding several time points of one slice set (split as in
`radpath.mri.dicom`), or several single-time-point series of one study with the same slice set and sequence
(TR, TE, flip angle) at different times: one series per phase, as some scanners write them; a separately
written pre-contrast series of the same sequence joins a multi-phase series the same way.

Visits: the studies that hold a dynamic acquisition, in StudyDate (then StudyTime) order. `mri.study` picks
one: `first` (default: the pre-treatment exam), `last`, a 1-based index (negative counts from the last), a
date (`2002-03-15` or `20020315`), or a StudyDescription glob (case-insensitive). In the chosen study the
acquisition with the most usable time points (pre + two post-contrast phases; more do not rank higher) is
taken; two equally good ones are an error unless `mri.series` (a SeriesDescription glob or a SeriesNumber)
names one.

`find_dce_series` is the public entry: it returns a `SeriesChoice` with the chosen study and series, the
phases' files (headers only: no pixel data has been read) and every skipped series with its reason.
Identifiers from the headers that leave this module are the study and series UIDs, numbers, descriptions
and dates (TCIA's de-identified values), never names, birth dates or patient IDs.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radpath.errors import MRIError
from radpath.mri.dicom import (
    TIME_TOLERANCE_S,
    Item,
    dicom_files,
    phase_time,
    read_header,
    slice_position,
    split_series,
)

NOT_IMAGES = {
    "SEG": "segmentation (SEG)", "RTSTRUCT": "structure set (RTSTRUCT)", "SR": "structured report (SR)",
    "PR": "presentation state (PR)", "KO": "key object selection (KO)", "REG": "registration (REG)",
    "DOC": "document (DOC)", "RWV": "real-world value map (RWV)",
}
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DERIVED_WORDS = {"SUB", "SUBTRACT", "SUBTRACTION", "MIP", "MINIP", "PROJECTION IMAGE", "CAD"}
LOCALISER_WORDS = re.compile(r"locali[sz]er|\bloc\b|scout|survey|\b3[- ]?pl(ane)?\b|tri[- ]?pilot", re.IGNORECASE)
USABLE_TIME_POINTS = 3          # pre-contrast + early + late; more time points do not make a series better
RECORD_COLUMNS = ("study_uid", "study_date", "study_description", "visit", "n_visits", "study_rule",
                  "series_rule", "series", "skipped_series")


# ---------------------------------------------------------------- what was found


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if type(value).__name__ == "MultiValue" or isinstance(value, list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _number(value: Any, digits: int = 2) -> float | None:
    try:
        return round(float(value), digits)
    except (TypeError, ValueError):
        return None


@dataclass
class Series:
    """One DICOM series below a case folder, as its headers describe it."""

    study_uid: str
    uid: str
    items: list[Item]
    reason: str | None = None                   # why it is skipped; None while usable
    phases: list[list[Item]] = field(default_factory=list)   # header groups of its time points
    split_by: str | None = None
    split_error: MRIError | None = None

    @property
    def first(self) -> Any:
        return self.items[0][1]

    @property
    def number(self) -> int | None:
        value = self.first.get("SeriesNumber")
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    @property
    def description(self) -> str:
        return _text(self.first, "SeriesDescription")

    @property
    def label(self) -> str:
        number = "#?" if self.number is None else f"#{self.number}"
        return f"{number} '{self.description}'" if self.description else number

    def summary(self) -> dict[str, Any]:
        """What is recorded of the series (no pixel data, no patient identifiers)."""
        return {
            "uid": self.uid, "number": self.number, "description": self.description or None,
            "date": _text(self.first, "SeriesDate") or None, "time": _text(self.first, "SeriesTime") or None,
            "image_type": _text(self.first, "ImageType") or None, "modality": _text(self.first, "Modality") or None,
            "files": len(self.items), "time_points": len(self.phases) or None,
        }


@dataclass
class Study:
    uid: str
    series: list[Series]

    @property
    def first(self) -> Any:
        return self.series[0].first

    @property
    def date(self) -> str:
        return _text(self.first, "StudyDate")

    @property
    def description(self) -> str:
        return _text(self.first, "StudyDescription")

    @property
    def label(self) -> str:
        date = self.date
        shown = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 and date.isdigit() else (date or "no date")
        return f"study {shown}" + (f" '{self.description}'" if self.description else "")

    def sort_key(self) -> tuple[str, str, str]:
        return (self.date or "99999999", _text(self.first, "StudyTime"), self.uid)


@dataclass
class Acquisition:
    """A dynamic acquisition: the time points of one series, or of several series of one slice set."""

    series: list[Series]
    phases: list[list[Item]]                    # header groups in the order they are read
    split_by: str

    @property
    def time_points(self) -> int:
        return len(self.phases)

    @property
    def label(self) -> str:
        names = ", ".join(s.label for s in self.series)
        return f"{names} ({self.time_points} time points)"

    def matches(self, rule: str | int) -> bool:
        """Whether `mri.series` (SeriesNumber, or a SeriesDescription glob) names one of its series."""
        text = str(rule).strip()
        if isinstance(rule, int) or text.lstrip("-").isdigit():
            return any(s.number == int(text) for s in self.series)
        return any(fnmatch.fnmatch(s.description.lower(), text.lower()) for s in self.series)


@dataclass
class SeriesChoice:
    """The chosen study and dynamic acquisition of a case, and everything skipped (with reasons).

    `phase_files[k]` are the files of time point k (in the order the phases are read: time order, or the
    Temporal Position Identifier's), each phase's slices in order along the slice normal (the z order of
    the image radpath reads): what a DICOM SEG of that phase references.
    """

    case_id: str
    folder: Path
    study: Study
    acquisition: Acquisition
    visit: int                                  # 1-based among the visits (studies with a dynamic series)
    n_visits: int
    study_rule: str
    series_rule: str
    skipped: list[dict[str, Any]]

    @property
    def phases(self) -> list[list[Item]]:
        return self.acquisition.phases

    @property
    def phase_files(self) -> list[list[Path]]:
        return [[p for p, _ in sorted(group, key=lambda it: slice_position(it[1]))] for group in self.phases]

    @property
    def series_uids(self) -> list[str]:
        return [s.uid for s in self.acquisition.series]

    @property
    def study_uid(self) -> str:
        return self.study.uid

    @property
    def frame_of_reference_uid(self) -> str | None:
        return _text(self.acquisition.series[0].first, "FrameOfReferenceUID") or None

    def record(self) -> dict[str, Any]:
        """The facts `mri_cases` keeps (keys: RECORD_COLUMNS)."""
        return {
            "study_uid": self.study.uid, "study_date": self.study.date or None,
            "study_description": self.study.description or None, "visit": self.visit, "n_visits": self.n_visits,
            "study_rule": self.study_rule, "series_rule": self.series_rule,
            "series": [s.summary() for s in self.acquisition.series], "skipped_series": self.skipped,
        }


# ---------------------------------------------------------------- scanning and sorting


def scan(folder: Path, case_id: str) -> tuple[list[Study], list[str]]:
    """Studies (with their series, each classified) below `folder`, and the files that are not DICOM."""
    headers: list[Item] = []
    not_dicom: list[str] = []
    for path in dicom_files(folder):
        ds = read_header(path, case_id)
        if ds is None:
            not_dicom.append(str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path))
        else:
            headers.append((path, ds))
    by_series: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for path, ds in headers:
        key = (str(ds.get("StudyInstanceUID", "?")), str(ds.get("SeriesInstanceUID", "?")))
        by_series[key].append((path, ds))
    studies: dict[str, list[Series]] = defaultdict(list)
    for (study_uid, uid), items in by_series.items():
        items.sort(key=lambda it: int(_number(it[1].get("InstanceNumber"), 0) or 0))
        series = Series(study_uid, uid, items)
        _classify(series, case_id)
        studies[study_uid].append(series)
    out = [Study(uid, sorted(group, key=lambda s: (s.number is None, s.number or 0, s.uid)))
           for uid, group in studies.items()]
    return sorted(out, key=Study.sort_key), not_dicom


def _classify(series: Series, case_id: str) -> None:
    """Set `series.reason` (why it cannot be a DCE series) or its time points."""
    series.reason = _not_dynamic(series)
    if series.reason is not None:
        return
    positions = [slice_position(ds) for _, ds in series.items]
    if len(set(positions)) == len(positions):
        series.phases, series.split_by = [series.items], "one time point"
        return
    try:
        series.phases, series.split_by = split_series(series.items, case_id)
    except MRIError as exc:
        series.split_error = exc
        series.reason = f"{len(series.items)} slices at {len(set(positions))} positions cannot be split into phases"


def _not_dynamic(series: Series) -> str | None:
    ds = series.first
    modality = _text(ds, "Modality").upper()
    if modality in NOT_IMAGES:
        return NOT_IMAGES[modality]
    if modality != "MR" and "ImagePositionPatient" not in ds:
        return f"not an image (Modality {modality or 'missing'})"
    if modality and modality != "MR":
        return f"modality {modality}, not MR"
    if _text(ds, "SOPClassUID").startswith(SECONDARY_CAPTURE):
        return "secondary capture"
    image_type = [v.upper() for v in _text(ds, "ImageType").split("\\") if v]
    shown = "\\".join(image_type)
    if "LOCALIZER" in image_type:
        return f"localiser (ImageType {shown})"
    if image_type and image_type[0] == "DERIVED":
        return f"derived image (ImageType {shown})"
    if DERIVED_WORDS & set(image_type):
        return f"derived image (ImageType {shown})"
    if len(image_type) > 1 and image_type[1] == "SECONDARY":
        return f"secondary image (ImageType {shown})"
    if LOCALISER_WORDS.search(series.description):
        return "localiser (series description)"
    frames = max(int(_number(d.get("NumberOfFrames"), 0) or 1) for _, d in series.items)
    if frames > 1:
        return (f"enhanced multi-frame MR ({frames} frames in one file): not supported; convert it to one file "
                "per slice (dcmtk emf2sf)")
    if any("ImagePositionPatient" not in d for _, d in series.items):
        return "MR slices without an image position"
    orientations = {tuple(_number(v, 3) for v in d.get("ImageOrientationPatient", [])) for _, d in series.items}
    if len(orientations) > 1:
        return f"localiser (slices in {len(orientations)} orientations)"
    grids = {(d.get("Rows"), d.get("Columns"), tuple(_number(v, 4) for v in d.get("PixelSpacing", [])))
             for _, d in series.items}
    if len(grids) > 1:
        return f"slices of {len(grids)} sizes or pixel spacings"
    echoes = sorted({e for e in (_number(d.get("EchoTime")) for _, d in series.items) if e is not None})
    if len(echoes) > 1:
        return f"{len(echoes)} echo times ({', '.join(f'{e:g}' for e in echoes)} ms): multi-echo, not time points"
    b_values = {_number(d.get("DiffusionBValue")) for _, d in series.items} - {None}
    if "DIFFUSION" in image_type or len(b_values) > 1:
        return "diffusion-weighted"
    return None


# ---------------------------------------------------------------- acquisitions of a study


def _slice_set(series: Series) -> tuple[Any, ...]:
    """What phases of one acquisition share: slice grid, slice positions and sequence (TR, TE, flip angle)."""
    ds = series.first
    positions = tuple(sorted({slice_position(d) for _, d in series.phases[0]}))
    return (ds.get("Rows"), ds.get("Columns"), tuple(_number(v, 4) for v in ds.get("PixelSpacing", [])),
            tuple(_number(v, 3) for v in ds.get("ImageOrientationPatient", [])), positions,
            _number(ds.get("RepetitionTime"), 1), _number(ds.get("EchoTime"), 1), _number(ds.get("FlipAngle"), 1))


def _time_or_inf(group: list[Item]) -> float:
    start = phase_time(group)
    return float("inf") if start is None else start


def acquisitions(study: Study) -> list[Acquisition]:
    """The dynamic acquisitions of a study; single-time-point series left over get their skip reason."""
    groups: dict[tuple[Any, ...], list[Series]] = defaultdict(list)
    for series in study.series:
        if series.reason is None:
            groups[_slice_set(series)].append(series)
    found: list[Acquisition] = []
    for members in groups.values():
        dynamic = [s for s in members if len(s.phases) > 1]
        single = [s for s in members if len(s.phases) == 1]
        if len(dynamic) > 1:                    # several multi-phase series of one sequence: each stands alone
            found.extend(Acquisition([s], list(s.phases), s.split_by or "") for s in dynamic)
            for s in single:
                s.reason = f"single time point ({len(s.items)} slices) beside several dynamic series"
            continue
        if len(dynamic) + len(single) < 2:
            for s in single:
                s.reason = f"single time point ({len(s.items)} slices)"
            if dynamic:
                found.append(Acquisition(dynamic, list(dynamic[0].phases), dynamic[0].split_by or ""))
            continue
        joined, kept = _join(dynamic, single)
        if len(kept) == 1 and len(kept[0].phases) == 1:       # nothing to join with after all
            kept[0].reason = f"single time point ({len(kept[0].items)} slices)"
            continue
        found.append(joined)
    return found


def _join(dynamic: list[Series], single: list[Series]) -> tuple[Acquisition, list[Series]]:
    """Phases of one multi-phase series (if any) and single-time-point series of its slice set, in time
    order. A single series starting within TIME_TOLERANCE_S of a phase already taken is a copy (skipped)."""
    kept: list[Series] = list(dynamic)
    phases: list[list[Item]] = list(dynamic[0].phases) if dynamic else []
    for s in sorted(single, key=lambda s: _time_or_inf(s.phases[0])):
        start = phase_time(s.phases[0])
        clash = start is not None and any(
            (t := phase_time(p)) is not None and abs(t - start) <= TIME_TOLERANCE_S for p in phases)
        if clash:
            s.reason = f"single time point ({len(s.items)} slices) at the time of a phase already taken (a copy?)"
            continue
        kept.append(s)
        phases.append(s.phases[0])
    if dynamic:
        rule = dynamic[0].split_by or ""
        how = rule if len(kept) == 1 else f"series + {rule}"
        if len(kept) > 1 or not rule.startswith("TemporalPosition"):
            phases.sort(key=_time_or_inf)
    else:
        how = "series"
        phases.sort(key=_time_or_inf)
    kept.sort(key=lambda s: _time_or_inf(s.phases[0]))
    return Acquisition(kept, phases, how), kept


# ---------------------------------------------------------------- choosing


def _date_rule(text: str) -> str | None:
    """YYYYMMDD of a date given as 2002-03-15 or 20020315; None for anything else."""
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    return "".join(match.groups()) if match else None


def choose_study(visits: list[Study], rule: str | int, case_id: str, folder: Path) -> int:
    """Index into `visits` (studies holding a dynamic series, in date order) named by `mri.study`."""
    text = str(rule).strip()
    listed = "; ".join(f"{k + 1}: {s.label}" for k, s in enumerate(visits))
    where = f"mri.study '{text}'"
    if text.lower() in {"first", "last"}:
        return 0 if text.lower() == "first" else len(visits) - 1
    date = _date_rule(text)
    if date is None and text.lstrip("-").isdigit():
        index = int(text)
        if index == 0 or abs(index) > len(visits):
            raise MRIError(case_id, f"{where} is not a visit: indices run from 1 (first) to {len(visits)} "
                           f"(-1: last); visits: {listed}", file=str(folder))
        return index - 1 if index > 0 else len(visits) + index
    if date is not None:
        hits = [k for k, s in enumerate(visits) if s.date == date]
        what = "date"
    else:
        hits = [k for k, s in enumerate(visits) if fnmatch.fnmatch(s.description.lower(), text.lower())]
        what = "StudyDescription glob"
    if len(hits) == 1:
        return hits[0]
    found = "no visit" if not hits else f"{len(hits)} visits"
    raise MRIError(case_id, f"{where} ({what}) matches {found}; visits: {listed}"
                   + ("; give an index (1, 2, ...) instead" if hits else ""), file=str(folder))


def _found(studies: list[Study], not_dicom: list[str]) -> str:
    parts = []
    for study in studies:
        listed = ", ".join(f"{s.label} ({s.reason or 'usable'})" for s in study.series)
        parts.append(f"{study.label}: {listed}")
    if not_dicom:
        parts.append(f"{len(not_dicom)} file(s) that are not DICOM")
    return "; ".join(parts) if parts else "nothing"


def find_dce_series(folder: str | Path, case_id: str, *, study: str | int = "first",
                    series: str | int | None = None) -> SeriesChoice:
    """The DCE acquisition of a case folder (headers only; see the module docstring for the rules).

    Errors (`MRIError`, naming the case and folder): no DICOM images; no dynamic series (listing what was
    found with each reason); two equally good dynamic series and no `series` (listing them and the manifest
    key to set); a `study` or `series` rule that matches nothing or several.
    """
    folder = Path(folder)
    studies, not_dicom = scan(folder, case_id)
    if not studies:
        raise MRIError(case_id, "no DICOM or NIfTI images found in the case folder", file=str(folder))
    found = {s.uid: acquisitions(s) for s in studies}
    visits = [s for s in studies if found[s.uid]]
    if not visits:
        broken = [s.split_error for st in studies for s in st.series if s.split_error is not None]
        if len(broken) == 1:
            raise broken[0]             # the one series that looked dynamic: its own error says what is wrong
        raise MRIError(case_id, f"no dynamic (DCE) series: found {_found(studies, not_dicom)}", file=str(folder))
    index = choose_study(visits, study, case_id, folder)
    chosen_study = visits[index]
    candidates = found[chosen_study.uid]
    if series is not None:
        picked = [a for a in candidates if a.matches(series)]
        if len(picked) != 1:
            how = "none" if not picked else f"{len(picked)}: " + "; ".join(a.label for a in picked)
            raise MRIError(case_id, f"mri.series '{series}' (SeriesNumber or SeriesDescription glob) matches {how} "
                           f"of the dynamic series in {chosen_study.label}; found "
                           f"{_found([chosen_study], [])}", file=str(folder))
        chosen, series_rule = picked[0], f"mri.series: {series}"
    else:
        best = max(min(a.time_points, USABLE_TIME_POINTS) for a in candidates)
        top = [a for a in candidates if min(a.time_points, USABLE_TIME_POINTS) == best]
        if len(top) > 1:
            listed = "; ".join(a.label for a in top)
            raise MRIError(case_id, f"{len(top)} dynamic series fit equally well in {chosen_study.label}: {listed}; "
                           "set mri.series in the manifest (a SeriesDescription glob or SeriesNumber) to the one "
                           "to use", file=str(folder))
        chosen, series_rule = top[0], "automatic"
    skipped = _skipped(studies, chosen_study, chosen, candidates, not_dicom, study, visits)
    return SeriesChoice(case_id, folder, chosen_study, chosen, index + 1, len(visits), str(study), series_rule,
                        skipped)


def _skipped(studies: list[Study], chosen_study: Study, chosen: Acquisition, candidates: list[Acquisition],
             not_dicom: list[str], rule: str | int, visits: list[Study]) -> list[dict[str, Any]]:
    """Every series not read, with its reason (other visits' series say which visit they belong to)."""
    taken = {s.uid for s in chosen.series}
    other_dynamic = {s.uid: a for a in candidates if a is not chosen for s in a.series}
    out: list[dict[str, Any]] = []
    for study in studies:
        if study is chosen_study:
            for s in study.series:
                if s.uid in taken:
                    continue
                reason = s.reason or (f"dynamic ({other_dynamic[s.uid].time_points} time points), not chosen"
                                      if s.uid in other_dynamic else "not chosen")
                out.append({"study_uid": study.uid, **s.summary(), "reason": reason})
            continue
        if study in visits:
            why = f"another visit ({visits.index(study) + 1} of {len(visits)}, {study.label}; mri.study: {rule})"
        else:
            why = f"another study without a dynamic series ({study.label})"
        out.extend({"study_uid": study.uid, **s.summary(), "reason": f"{why}: {s.reason}" if s.reason else why}
                   for s in study.series)
    out.extend({"file": name, "reason": "not a DICOM file"} for name in not_dicom)
    return out
